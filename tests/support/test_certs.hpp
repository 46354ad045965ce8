// A throw-away PKI for TLS tests, made with OpenSSL's APIs at test time: a CA, and server
// certificates it signs for chosen names. Clients trust the CA through
// net::tls_options::extra_ca_pem, so verification stays on in every test. Nothing is
// written to disk; any thread.
#pragma once

#include <string>
#include <vector>

namespace openclawd::test {

struct pem_pair {
  std::string cert_pem;
  std::string key_pem;
};

struct test_ca {
  pem_pair ca;  // self-signed, CA:TRUE

  // A server certificate signed by this CA, valid now, for the given DNS names and IP
  // addresses (subjectAltName), EKU serverAuth.
  pem_pair issue(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const;
};

// Throws std::runtime_error if OpenSSL fails (a test bug, not a condition under test).
test_ca make_test_ca(const std::string& common_name = "openclawd test CA");

}  // namespace openclawd::test
