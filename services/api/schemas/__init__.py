"""Request and response shapes of the REST API, as pydantic models (also the OpenAPI components)."""
