// Runs coroutines to completion on a test's own io_context, bounded in time: the test
// fails (instead of hanging) if they have not finished by the deadline. Main thread only.
#pragma once

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <vector>

namespace openclawd::test {

template <class T>
std::vector<T> run_all(boost::asio::io_context& ioc, std::vector<boost::asio::awaitable<T>> tasks,
                       std::chrono::steady_clock::duration deadline = std::chrono::seconds(20)) {
  std::vector<std::optional<T>> out(tasks.size());
  std::exception_ptr error;
  std::size_t left = tasks.size();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    boost::asio::co_spawn(ioc, std::move(tasks[i]), [&, i](std::exception_ptr e, T value) {
      if (e && !error) error = e;
      out[i] = std::move(value);
      if (--left == 0) ioc.stop();  // abandoned work (a late DNS answer) must not keep us here
    });
  }
  ioc.restart();
  ioc.run_for(deadline);
  if (error) std::rethrow_exception(error);
  REQUIRE(left == 0);  // else the deadline passed first
  std::vector<T> values;
  for (auto& v : out) values.push_back(std::move(*v));
  return values;
}

template <class T>
T run_one(boost::asio::io_context& ioc, boost::asio::awaitable<T> task,
          std::chrono::steady_clock::duration deadline = std::chrono::seconds(20)) {
  std::vector<boost::asio::awaitable<T>> tasks;
  tasks.push_back(std::move(task));
  return std::move(run_all(ioc, std::move(tasks), deadline).front());
}

inline void run_one(boost::asio::io_context& ioc, boost::asio::awaitable<void> task,
                    std::chrono::steady_clock::duration deadline = std::chrono::seconds(20)) {
  bool done = false;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
    ioc.stop();
  });
  ioc.restart();
  ioc.run_for(deadline);
  if (error) std::rethrow_exception(error);
  REQUIRE(done);  // else the deadline passed first
}

}  // namespace openclawd::test
