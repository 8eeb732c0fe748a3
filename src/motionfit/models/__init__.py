"""Video models behind one interface: ``build_model(name, ...)`` -> ``VideoClassifier``."""
