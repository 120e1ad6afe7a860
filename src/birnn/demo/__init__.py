"""The built-in demo: a generated fill-in-the-blank task where bidirectionality matters."""
