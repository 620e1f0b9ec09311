"""Rendering finished clips: one clip's picture (framed by reframe/, with captions from captions/), sound and
files. Sits above media/ (decode, probe, sound), reframe/ and captions/, and below the stages that call it."""
