using System.Security.Cryptography.X509Certificates;

namespace DmEra.Nbd;

/// <summary>X.509 TLS for NBD_OPT_STARTTLS.</summary>
/// <param name="ServerCertificate">The server's certificate with its private key.</param>
/// <param name="Required">
/// FORCEDTLS mode: every option but STARTTLS and ABORT gets ERR_TLS_REQD before TLS, and EXPORT_NAME closes
/// the connection. When false, TLS is offered but plaintext clients are served too.
/// </param>
/// <param name="ClientCertificateRequired">Ask for and verify a client certificate.</param>
public sealed record NbdTlsSettings(X509Certificate2 ServerCertificate, bool Required = true, bool ClientCertificateRequired = false);
