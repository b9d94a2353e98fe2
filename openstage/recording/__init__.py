"""Individual participant recording (docs 6), and the HLS/thumbnail writer composition shares (hls.py)."""
