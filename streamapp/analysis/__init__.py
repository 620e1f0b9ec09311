"""Signal analysis helpers used by the extract stage: picture, audio events, transcript and topics."""
