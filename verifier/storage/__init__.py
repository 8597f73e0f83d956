"""Storage: the models, the database and its migrations, and one module per aggregate holding its SQL."""
