"""Response generation backends."""
