/**
 * HTTPS for Relight: certificates from files and from ACME, the HTTPS
 * listener that applies them on the same port, and the helpers
 * the plain HTTP listener needs.
 */
export { AcmeManager, type AcmeManagerOptions } from "./acme.ts";
export {
  CertificateError,
  loadCertificateFiles,
  type LoadedCertificate,
  nameCovers,
  parseCertificatePair,
} from "./certificate.ts";
export { checkTlsConfig, loadTlsCertificates, type TlsCheckResult } from "./check.ts";
export { challengePathPrefix, ChallengeResponder, redirectToHttps, withHsts } from "./http.ts";
export { ensurePortFree } from "./exclusive-port.ts";
export { HttpsListener, type HttpsListenerOptions } from "./listener.ts";
export { CertificateStore } from "./store.ts";
