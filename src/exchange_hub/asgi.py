"""ASGI entry point for uvicorn workers: settings come from the environment."""

from exchange_hub.app import create_app

app = create_app()
