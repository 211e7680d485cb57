"""Helpers shared by several stages (atomic files, image quality, figures); they import nothing
else from convae_tf."""
