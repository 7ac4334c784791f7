"""Language-understanding building blocks shared by stages (sentence embeddings, ...)."""
