"""One-shot precision search (docs/design/methods.md section 6): train one any-precision
supernet, score thousands of configurations with it, fine-tune only the proxy front as ordinary
trials."""
