"""Writers that turn core results into what people and programs read."""
