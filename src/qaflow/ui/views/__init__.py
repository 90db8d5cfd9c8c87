"""The pages of the web app; each has ``render(client: ApiClient) -> None``."""
