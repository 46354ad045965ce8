#include "gateway/template_probe.hpp"

namespace openclawd::gateway {
namespace {

// Distinct words, so that each can be found in the rendered prompt whatever the template adds.
constexpr std::string_view probe_system = "Probe system text 7105.";
constexpr std::string_view probe_user_1 = "Probe user text 2281.";
constexpr std::string_view probe_assistant = "Probe assistant text 3907.";
constexpr std::string_view probe_user_2 = "Probe user text 4613.";

// A template's raise_exception() comes back as a 4xx (or a 500 from some builds); either way
// the template refused the request. Anything else means the node could not be asked.
bool refused(const llm_error& e) {
  return e.kind == llm_error_kind::bad_request || e.kind == llm_error_kind::model_fault;
}

std::vector<chat_message> exchange() {
  return {{"user", std::string(probe_user_1)},
          {"assistant", std::string(probe_assistant)},
          {"user", std::string(probe_user_2)}};
}

}  // namespace

asio::awaitable<llm_result<template_traits>> probe_template(llm_client& client) {
  template_traits t;
  t.probed = true;

  auto plain = co_await client.apply_template(exchange(), std::nullopt);
  if (!plain) {
    if (!refused(plain.error())) co_return plain.error();
    t.refusal = plain.error().message.empty() ? plain.error().to_string() : plain.error().message;
    co_return t;
  }

  auto with_system = exchange();
  with_system.insert(with_system.begin(), chat_message{"system", std::string(probe_system)});
  auto sys = co_await client.apply_template(with_system, std::nullopt);
  if (!sys && !refused(sys.error())) co_return sys.error();
  if (!sys) {
    t.system_role = false;
  } else {
    const auto at = sys->find(probe_system);
    t.system_role = at != std::string::npos;
    const auto assistant_at = sys->find(probe_assistant);
    t.system_moves = t.system_role && assistant_at != std::string::npos && at > assistant_at;
  }

  // Built outside the co_await: GCC 12 miscompiles braced initializers inside one.
  std::vector<chat_message> two_users;
  two_users.push_back({"user", std::string(probe_user_1)});
  two_users.push_back({"user", std::string(probe_user_2)});
  auto twice = co_await client.apply_template(std::move(two_users), std::nullopt);
  if (!twice && !refused(twice.error())) co_return twice.error();
  t.strict_alternation = !twice;

  std::vector<chat_message> one;
  one.push_back({"user", std::string(probe_user_1)});
  auto off = co_await client.apply_template(one, false);
  auto on = co_await client.apply_template(one, true);
  if (!off && !refused(off.error())) co_return off.error();
  if (!on && !refused(on.error())) co_return on.error();
  t.thinking = off && on && *off != *on;
  co_return t;
}

}  // namespace openclawd::gateway
