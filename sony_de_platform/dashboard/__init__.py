"""Dashboard: the Streamlit pipeline monitor (`make dashboard`) over the published copy."""
