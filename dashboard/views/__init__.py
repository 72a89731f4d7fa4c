"""Streamlit pages: layout only; data comes from dashboard.data, figures from dashboard.figures."""
