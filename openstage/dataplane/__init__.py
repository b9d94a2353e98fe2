"""The participant-facing data plane: the events WebSocket, WHIP, and the IVS wire messages they speak."""
