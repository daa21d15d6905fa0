"""EdgeFold app core: FASTA, tokenizer, model packs, onnxruntime inference, scoring (no Qt)."""
