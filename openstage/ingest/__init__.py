"""RTMP and RTMPS ingest into stages (docs 7.1): an encoder's stream key makes it a stage participant.

The protocol (chunks.py, amf.py, connection.py) is implemented here rather than taken from a
library: the one pure-Python RTMP server on PyPI (pyrtmp 0.3.1, May 2024) configures the root
logger at import, pins an old ``bitstring`` and gets type-3 chunk timestamps wrong, which
freezes the timestamps of the audio most encoders send.
"""

from openstage.ingest.server import IngestServer
from openstage.ingest.tls import server_context

__all__ = ["IngestServer", "server_context"]
