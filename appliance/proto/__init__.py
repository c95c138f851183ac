"""The wire between the three processes: HOOT01 frames over ZMQ, Cap'n Proto bodies."""
