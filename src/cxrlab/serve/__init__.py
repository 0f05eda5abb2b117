"""The web service: ``create_app(predictor, ServeConfig)`` (FastAPI), its REST API and the page."""
