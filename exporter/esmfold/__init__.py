"""ESMFold export: load `EsmForProteinFolding`, split it into ONNX parts, write a folding pack."""
