// What a node's chat template accepts, asked of the node itself when it becomes ready: a few
// renders through `POST /apply-template` (no generation, a few milliseconds each), so that the
// conversation shaper (gateway/conversation_shape.hpp) lays requests out as that template wants.
//
//   plain     user, assistant, user               refused → the node cannot chat at all
//   system    system, user, assistant, user       refused or its text missing → no system role;
//                                                 its text after the assistant's → it moves
//   double    user, user                          refused → strict alternation
//   thinking  user, with enable_thinking off/on   renders differ → a thinking template
//
// Used by the daemon (at every ready) and by `openclawd doctor` (a running node).
#pragma once

#include "gateway/conversation_shape.hpp"
#include "gateway/llm_client.hpp"

namespace openclawd::gateway {

// An error only when the node could not be asked (down, loading, a protocol problem): a
// template that refuses the plain exchange is a result (traits.refusal), not an error.
asio::awaitable<llm_result<template_traits>> probe_template(llm_client& client);

}  // namespace openclawd::gateway
