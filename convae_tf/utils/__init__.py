"""Helpers shared by several stages (atomic files, image quality, figures, quiet CLI output);
they import nothing else from convae_tf."""
