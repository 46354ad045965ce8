#include "tests/support/test_certs.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <memory>
#include <stdexcept>

namespace openclawd::test {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
  void operator()(T* p) const { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test_certs: OpenSSL failed: ") + what);
}

pkey_ptr new_key() {
  pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(k != nullptr, "EC key generation");
  return k;
}

std::string drain(BIO* b) {
  std::string out;
  char buf[4096];
  for (int n; (n = BIO_read(b, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string key_pem(EVP_PKEY* k) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
  return drain(b.get());
}

std::string cert_pem(X509* c) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(b.get(), c) == 1, "write cert");
  return drain(b.get());
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "extension");
  check(X509_add_ext(cert, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

x509_ptr new_cert(EVP_PKEY* subject_key, const std::string& cn) {
  static std::atomic<long> serial{1000};
  x509_ptr c(X509_new());
  check(c != nullptr, "X509_new");
  check(X509_set_version(c.get(), 2) == 1, "version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++) == 1, "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(c.get()), 86400) != nullptr, "notAfter");
  check(X509_set_pubkey(c.get(), subject_key) == 1, "pubkey");
  X509_NAME* name = X509_get_subject_name(c.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                   -1, 0) == 1,
        "subject");
  return c;
}

x509_ptr parse_cert(const std::string& pem) {
  bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  check(c != nullptr, "read cert");
  return c;
}

pkey_ptr parse_key(const std::string& pem) {
  bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  check(k != nullptr, "read key");
  return k;
}

}  // namespace

test_ca make_test_ca(const std::string& common_name) {
  auto key = new_key();
  auto cert = new_cert(key.get(), common_name);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1, "issuer");
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "sign CA");
  return test_ca{pem_pair{cert_pem(cert.get()), key_pem(key.get())}};
}

pem_pair test_ca::issue(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const {
  auto ca_cert = parse_cert(ca.cert_pem);
  auto ca_key = parse_key(ca.key_pem);
  auto key = new_key();
  auto cert = new_cert(key.get(), dns_names.empty() ? "server" : dns_names.front());
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) == 1, "issuer");
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth");
  if (!san.empty()) add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  check(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0, "sign server cert");
  return pem_pair{cert_pem(cert.get()), key_pem(key.get())};
}

}  // namespace openclawd::test
