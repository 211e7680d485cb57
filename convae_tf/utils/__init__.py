"""Helpers shared by several stages (atomic files, figures); they import nothing else from
convae_tf."""
