"""Server-side composition (docs 5): layout geometry, the compositor, its outputs and the lifecycle of compositions."""
