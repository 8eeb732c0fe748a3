"""Self-supervised VideoMAE pretraining: tube masking, normalized-pixel reconstruction through
transformers' ``VideoMAEForPreTraining``, reconstruction previews, and :func:`pretrain`, which
runs it with the training machinery (checkpoints, resume, metrics, DDP) of ``motionfit train``.
"""
