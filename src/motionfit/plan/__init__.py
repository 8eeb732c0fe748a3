"""``motionfit plan``: a training recipe read from the data (fingerprint -> rules -> an explained
recipe file), as nnU-Net plans from a dataset fingerprint."""
