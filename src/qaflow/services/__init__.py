"""Use cases shared by every face (API, CLI, worker): the model registry, answering, history."""
