"""PKI primitives every stage shares: DER parsing of CSRs and certificates (asn1crypto) and SM2/SM3/SM4
(gmssl) — below extract, validate and issue, so no stage package imports another for them."""
