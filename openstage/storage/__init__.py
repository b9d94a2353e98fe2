"""Object storage for recordings: a local folder by default (S3-compatible endpoints come later)."""
