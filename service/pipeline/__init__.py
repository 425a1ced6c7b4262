"""Image bytes in, response bytes out: decoding and encoding, independent of HTTP."""
