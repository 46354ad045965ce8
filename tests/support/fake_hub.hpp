// A fake of the Hugging Face Hub's model API on 127.0.0.1:0, for tests and the pull benchmark:
//   GET  /api/models/<owner>/<repo>/refs                → {"branches":[{"name":"main","targetCommit":…}],…}
//   GET  /api/models/<owner>/<repo>/tree/<rev>?recursive=true → [{"type":"file","oid","size","path","lfs":{…}}]
//   HEAD|GET /<owner>/<repo>/resolve/<rev>/<path>       → 302 to /cdn/<sha256> with X-Linked-Etag,
//                                                          X-Linked-Size, X-Repo-Commit (as the Hub answers
//                                                          for LFS files); 404 {"error":…} for what is not there
//   GET  /cdn/<sha256>  (Range: bytes=N-)                → 206 with Content-Range, or 200; Accept-Ranges: bytes
// Faults on demand: cut the next download after N bytes, serve one file with a byte flipped,
// ignore ranges, demand a token. It runs on its own thread and io_context so that a test can
// drive `openclawd` (a child process) or a puller from the main thread; state is mutex-guarded.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace openclawd::test {

class fake_hub {
 public:
  fake_hub();
  ~fake_hub();
  fake_hub(const fake_hub&) = delete;
  fake_hub& operator=(const fake_hub&) = delete;

  unsigned short port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:PORT/"

  // A file of `repo_id` ("owner/repo") at its current revision (an LFS file: it has a SHA-256).
  void add_file(const std::string& repo_id, const std::string& path, std::string content);
  void add_file_from(const std::string& repo_id, const std::string& path, const std::string& local_file);
  // A new commit of the repository: `main` moves to it; files added from now on belong to it.
  // The old revision stays listed and downloadable, as on the Hub.
  std::string new_revision(const std::string& repo_id);
  std::string revision(const std::string& repo_id) const;
  static std::string sha256_hex(const std::string& data);

  // Faults.
  void cut_next_download_after(std::uint64_t bytes);  // once: send the headers, N bytes, then close
  void corrupt(const std::string& path);              // that file's bytes are served with one byte flipped
  void ignore_ranges(bool on);                        // answer 200 with the whole file to a Range request
  void require_token(const std::string& token);       // 401 without "Authorization: Bearer <token>"
  void throttle(std::uint64_t bytes_per_second);      // files served at about this rate (0: at once)
  // Redirect downloads to another server (another origin, as the Hub's CDN is): its /cdn/.
  void redirect_downloads_to(unsigned short port);

  struct request_record {
    std::string method, target, range, authorization;
  };
  std::vector<request_record> requests() const;
  std::uint64_t bytes_served() const { return bytes_served_.load(); }  // files' bytes only

  struct impl;

 private:
  struct repo {
    std::vector<std::string> revisions;  // oldest first; the last is main
    // revision → path → content
    std::map<std::string, std::map<std::string, std::shared_ptr<const std::string>>> files;
  };
  std::unique_ptr<impl> impl_;
  unsigned short port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, repo> repos_;
  std::map<std::string, std::shared_ptr<const std::string>> blobs_;  // sha256 → content
  std::map<const std::string*, std::string> shas_;                    // content → sha256, computed once
  std::string sha_of(const std::shared_ptr<const std::string>& blob) const;  // with mutex_ held
  std::optional<std::uint64_t> cut_after_;
  std::map<std::string, bool> corrupt_sha_;  // sha256 → serve flipped
  bool ignore_ranges_ = false;
  std::string token_;
  std::uint64_t throttle_bps_ = 0;
  unsigned short cdn_port_ = 0;  // 0: this server
  std::vector<request_record> requests_;
  std::atomic<std::uint64_t> bytes_served_{0};
  int revision_counter_ = 0;
  std::thread thread_;

  friend struct impl;
};

}  // namespace openclawd::test
