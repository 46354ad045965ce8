// The fake Telegram Bot API server (tests/support/fake_telegram) checked against the protocol it
// stands in for, driven by the real HTTP(S) client over 127.0.0.1: envelopes and status codes,
// long polls held and released, offsets, 409 conflicts, every injected fault, TDLib's HTML
// entity rules and length limits, the recorded fixtures served back intact, keep-alive and TLS.
// If the fake drifts from the real server, tests of the Telegram channel prove nothing, so
// these pin it. No fixed sleeps: waits are on the fake's state, with generous deadlines.
#include "tests/support/fake_telegram.hpp"

#include "core/error.hpp"
#include "net/https_client.hpp"
#include "net/url.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/test_certs.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

using namespace openclawd;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::fake_telegram;
using test::run_one;
namespace fault = test::fault;

namespace {

const std::string k_token = "123456789:AAH-test_token-for_the_fake";

std::string read_fixture(const std::string& relative) {
  const std::string path = std::string(OPENCLAWD_TEST_FIXTURES) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One CA for the whole run: key generation is the slow part.
const test::test_ca& test_pki() {
  static const test::test_ca ca = test::make_test_ca();
  return ca;
}

net::https_client make_client(const std::string& extra_ca_pem = {}) {
  auto c = net::https_client::create(net::tls_options{extra_ca_pem});
  REQUIRE(c.has_value());
  return *c;
}

net::https_options timeouts(std::chrono::milliseconds read) {
  net::https_options o;
  o.timeouts.connect = 5s;
  o.timeouts.handshake = 5s;
  o.timeouts.write = 5s;
  o.timeouts.read = read;
  o.timeouts.total = read + 10s;
  return o;
}

net::https_request json_request(const fake_telegram& fake, std::string_view method, const json& params) {
  return {http::verb::post, fake.method_url(method), {{"Content-Type", "application/json"}}, params.dump()};
}

struct answer {
  unsigned status = 0;
  std::string raw;
  json body;  // discarded when the body is not JSON
  net::https_response response;
};

answer to_answer(const result<net::https_response>& res) {
  if (!res.has_value()) FAIL("no HTTP response: " << res.error().message());
  answer a;
  a.status = res->status;
  a.raw = res->body;
  a.body = json::parse(res->body, nullptr, false);
  a.response = *res;
  return a;
}

// One Bot API call from the test thread, answered within the read deadline.
answer call(const fake_telegram& fake, std::string_view method, const json& params = json::object(),
            std::chrono::milliseconds read = 10s) {
  static const net::https_client client = make_client();
  asio::io_context ioc;
  return to_answer(run_one(ioc, client.request(json_request(fake, method, params), timeouts(read)), read + 15s));
}

result<net::https_response> raw_call(const net::https_client& client, net::https_request req,
                                     std::chrono::milliseconds read = 10s) {
  asio::io_context ioc;
  return run_one(ioc, client.request(std::move(req), timeouts(read)), read + 15s);
}

// A request on its own thread and io_context, for requests the fake must be seen holding while
// the test thread acts. No Catch macros in there: they are for the test thread only.
std::future<result<net::https_response>> in_background(net::https_client client, net::https_request req,
                                                        std::chrono::milliseconds read = 60s) {
  return std::async(std::launch::async, [client = std::move(client), req = std::move(req), read]() mutable {
    asio::io_context ioc;
    result<net::https_response> out{make_error_code(errc::timeout)};
    asio::co_spawn(ioc, client.request(std::move(req), timeouts(read)),
                   [&](std::exception_ptr e, result<net::https_response> r) {
                     if (!e) out = std::move(r);
                   });
    ioc.run();
    return out;
  });
}

json error_body(int code, const std::string& description) {
  return json{{"ok", false}, {"error_code", code}, {"description", description}};
}

void check_bad_request(const answer& a, const std::string& description) {
  INFO(a.raw);
  CHECK(a.status == 400);
  CHECK(a.body == error_body(400, "Bad Request: " + description));
}

// sendMessage to chat 42 with parse_mode HTML.
answer send_html(const fake_telegram& fake, const std::string& text) {
  return call(fake, "sendMessage", json{{"chat_id", 42}, {"text", text}, {"parse_mode", "HTML"}});
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

const char* const k_terminated =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

}  // namespace

TEST_CASE("fake telegram: getMe, 401 for a wrong token, 404 for unknown paths and methods", "[telegram][fake]") {
  fake_telegram fake(k_token);
  CHECK(fake.base_url() == "http://127.0.0.1:" + std::to_string(fake.port()));
  CHECK(fake.bot_id() == 123456789);

  auto a = call(fake, "getMe");
  CHECK(a.status == 200);
  CHECK(a.body["ok"] == true);
  CHECK(a.body["result"]["id"] == 123456789);
  CHECK(a.body["result"]["is_bot"] == true);
  CHECK(a.body["result"]["username"] == "openclawd_test_bot");
  CHECK(a.response.header("Content-Type") == "application/json");

  // Method names are case-insensitive; GET with no body works too.
  const auto client = make_client();
  a = to_answer(raw_call(client, {http::verb::get, fake.method_url("GETME"), {}, {}}));
  CHECK(a.status == 200);
  CHECK(a.body["result"]["username"] == "openclawd_test_bot");

  a = to_answer(raw_call(client, {http::verb::post, fake.base_url() + "/bot123456789:wrong/getMe", {}, {}}));
  CHECK(a.status == 401);
  CHECK(a.body == error_body(401, "Unauthorized"));
  a = call(fake, "getChatHistoryPlease");
  CHECK(a.status == 404);
  CHECK(a.body == error_body(404, "Not Found"));
  a = to_answer(raw_call(client, {http::verb::get, fake.base_url() + "/getMe", {}, {}}));
  CHECK(a.status == 404);

  const auto reqs = fake.requests();
  REQUIRE(reqs.size() == 5);
  CHECK(reqs[0].method == "getMe");
  CHECK(reqs[0].authorized);
  CHECK(reqs[0].status == 200);
  CHECK(reqs[1].method == "getMe");  // the documented spelling, whatever was sent
  CHECK_FALSE(reqs[2].authorized);
  CHECK(reqs[2].status == 401);
  CHECK(reqs[3].method == "getChatHistoryPlease");
  CHECK(fake.calls("getme") == 3);
}

TEST_CASE("fake telegram: a long poll is held until push_message releases it", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto t0 = std::chrono::steady_clock::now();
  auto poll = in_background(make_client(), json_request(fake, "getUpdates", json{{"timeout", 30}}));
  REQUIRE(fake.wait_for([&] { return fake.pending_poll(); }, 10s));
  CHECK(fake.pending_updates() == 0);

  const auto id = fake.push_message(1001, 1001, "/start");
  CHECK(id == 100000);
  const auto a = to_answer(poll.get());
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // released, not timed out
  CHECK_FALSE(fake.pending_poll());
  REQUIRE(a.status == 200);
  REQUIRE(a.body["result"].size() == 1);
  const json& u = a.body["result"][0];
  CHECK(u["update_id"] == id);
  const json& m = u["message"];
  CHECK(m["message_id"] == 1);
  CHECK(m["from"]["id"] == 1001);
  CHECK(m["from"]["is_bot"] == false);
  CHECK(m["chat"]["id"] == 1001);
  CHECK(m["chat"]["type"] == "private");
  CHECK(m["date"].is_number_integer());
  CHECK(m["text"] == "/start");
  CHECK(m["entities"] == json::parse(R"([{"offset":0,"length":6,"type":"bot_command"}])"));
  // Not confirmed yet: the next poll gets it again.
  CHECK(fake.pending_updates() == 1);
  CHECK(call(fake, "getUpdates").body["result"].size() == 1);
}

TEST_CASE("fake telegram: a long poll with nothing to deliver answers [] after its timeout", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto t0 = std::chrono::steady_clock::now();
  const auto a = call(fake, "getUpdates", json{{"timeout", 1}});
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(a.status == 200);
  CHECK(a.raw == R"({"ok":true,"result":[]})");
  CHECK(took >= 900ms);
  CHECK(took < 10s);
  // timeout 0 (the default) is a short poll; a negative timeout counts as 0.
  CHECK(call(fake, "getUpdates", json{{"timeout", -5}}).raw == R"({"ok":true,"result":[]})");
  CHECK_FALSE(fake.pending_poll());
}

TEST_CASE("fake telegram: offsets confirm updates, limit and allowed_updates apply", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto a1 = fake.push_message(7, 7, "one");
  const auto a2 = fake.push_message(7, 7, "two");
  const auto a3 = fake.push_message(7, 7, "three");
  CHECK(a2 == a1 + 1);
  CHECK(a3 == a1 + 2);

  auto a = call(fake, "getUpdates", json{{"limit", 2}});
  REQUIRE(a.body["result"].size() == 2);
  CHECK(a.body["result"][1]["message"]["text"] == "two");
  CHECK(a.body["result"][1]["message"]["message_id"] == 2);  // per chat
  CHECK(fake.confirmed_offset() == 0);

  // Form parameters (strings) work as well as JSON numbers.
  const auto client = make_client();
  a = to_answer(raw_call(client, {http::verb::post, fake.method_url("getUpdates"),
                                  {{"Content-Type", "application/x-www-form-urlencoded"}},
                                  "offset=" + std::to_string(a2) + "&timeout=0"}));
  REQUIRE(a.body["result"].size() == 2);
  CHECK(a.body["result"][0]["update_id"] == a2);
  CHECK(fake.confirmed_offset() == a2);
  CHECK(fake.pending_updates() == 2);

  a = call(fake, "getUpdates", json{{"offset", a3 + 1}});
  CHECK(a.body["result"].empty());
  CHECK(fake.pending_updates() == 0);
  CHECK(fake.confirmed_offset() == a3 + 1);

  // allowed_updates is remembered across calls and filters new updates.
  a = call(fake, "getUpdates", json{{"offset", a3 + 1}, {"allowed_updates", json::array({"edited_message"})}});
  CHECK(a.body["result"].empty());
  CHECK(fake.push_message(7, 7, "filtered out") == 0);
  const auto edit_id = fake.push_update(json{{"edited_message", {{"message_id", 1},
                                                                  {"chat", {{"id", 7}, {"type", "private"}}},
                                                                  {"date", 1},
                                                                  {"edit_date", 2},
                                                                  {"text", "edited"}}}});
  CHECK(edit_id == a3 + 1);
  a = call(fake, "getUpdates");
  REQUIRE(a.body["result"].size() == 1);
  CHECK(a.body["result"][0]["edited_message"]["text"] == "edited");
  // An empty list restores the default: everything but chat_member and the reactions.
  call(fake, "getUpdates", json{{"offset", edit_id + 1}, {"allowed_updates", json::array()}});
  CHECK(fake.push_message(7, 7, "back") != 0);
  CHECK(fake.push_update(json{{"message_reaction", {{"chat", {{"id", 7}, {"type", "private"}}}}}}) == 0);
  CHECK(fake.pending_updates() == 1);
}

TEST_CASE("fake telegram: a second getUpdates ends the held one with 409", "[telegram][fake]") {
  fake_telegram fake(k_token);
  auto first = in_background(make_client(), json_request(fake, "getUpdates", json{{"timeout", 30}}));
  REQUIRE(fake.wait_for([&] { return fake.pending_poll(); }, 10s));
  const auto second = call(fake, "getUpdates");
  CHECK(second.status == 200);
  const auto a = to_answer(first.get());
  CHECK(a.status == 409);
  CHECK(a.body == error_body(409, k_terminated));

  // A held poll ended by a webhook being set.
  auto third = in_background(make_client(), json_request(fake, "getUpdates", json{{"timeout", 30}}));
  REQUIRE(fake.wait_for([&] { return fake.pending_poll(); }, 10s));
  const auto set = call(fake, "setWebhook", json{{"url", "https://example.invalid/hook"}});
  CHECK(set.body == json::parse(R"({"ok":true,"result":true,"description":"Webhook was set"})"));
  const auto b = to_answer(third.get());
  CHECK(b.status == 409);
  CHECK(b.body == error_body(409, "Conflict: terminated by setWebhook request"));
}

TEST_CASE("fake telegram: getUpdates while a webhook is set answers 409 until deleteWebhook", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const json cases = json::parse(read_fixture("telegram/getUpdates_cases_incl_409.json"));
  fake.set_webhook_active(true);
  CHECK(fake.webhook_active());
  auto a = call(fake, "getUpdates", json{{"timeout", 30}});
  CHECK(a.status == 409);  // the fixture says 200; the real server's status equals error_code
  CHECK(a.body == cases["conflict_with_webhook"]["body"]);
  CHECK_FALSE(fake.pending_poll());

  fake.push_message(5, 5, "queued while the webhook was set");
  a = call(fake, "deleteWebhook", json{{"drop_pending_updates", true}});
  CHECK(a.body == json::parse(R"({"ok":true,"result":true,"description":"Webhook was deleted"})"));
  CHECK(fake.pending_updates() == 0);
  a = call(fake, "deleteWebhook");
  CHECK(a.body == json::parse(R"({"ok":true,"result":true,"description":"Webhook is already deleted"})"));
  CHECK(call(fake, "getUpdates").status == 200);
}

TEST_CASE("fake telegram: too_many_requests, conflict, bad_gateway, internal_error", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const json msg{{"chat_id", 42}, {"text", "hi"}};

  SECTION("429 with Retry-After, once") {
    fake.inject("sendMessage", fault::too_many_requests{3});
    CHECK(fake.faults_left("SENDMESSAGE") == 1);
    const auto a = call(fake, "sendMessage", msg);
    CHECK(a.status == 429);
    CHECK(a.response.header("Retry-After") == "3");
    CHECK(a.body["description"] == "Too Many Requests: retry after 3");
    CHECK(a.body["parameters"] == json{{"retry_after", 3}});
    // The same envelope as the library fixture: ok, error_code, description, parameters.
    const json shape = json::parse(read_fixture("telegram/error_envelope_with_parameters.json"));
    for (const auto& [k, v] : shape.items()) {
      INFO(k);
      CHECK(a.body.contains(k));
      CHECK(a.body[k].type() == v.type());
    }
    CHECK(fake.sent(42).empty());
    CHECK(call(fake, "sendMessage", msg).status == 200);  // one-shot
    CHECK(fake.sent(42).size() == 1);
  }
  SECTION("faults of one method are served in order") {
    fake.inject("getUpdates", fault::conflict{});
    fake.inject("getUpdates", fault::internal_error{});
    fake.inject("getUpdates", fault::bad_gateway{});
    auto a = call(fake, "getUpdates");
    CHECK(a.status == 409);
    CHECK(a.body == error_body(409, k_terminated));
    a = call(fake, "getUpdates");
    CHECK(a.status == 500);
    CHECK(a.body == error_body(500, "Internal Server Error"));
    a = call(fake, "getUpdates");
    CHECK(a.status == 502);
    CHECK(a.response.header("Content-Type") == "text/html");
    CHECK(a.body.is_discarded());  // nginx's HTML page, not JSON
    CHECK(a.raw.find("502 Bad Gateway") != std::string::npos);
    CHECK(call(fake, "getUpdates").status == 200);
    CHECK(fake.faults_left("getUpdates") == 0);
  }
}

TEST_CASE("fake telegram: dropped connections, a cut answer and a hang", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto client = make_client();
  const json msg{{"chat_id", 42}, {"text", "hi"}};

  SECTION("drop_connection: no answer, nothing sent") {
    fake.inject("sendMessage", fault::drop_connection{});
    const auto res = raw_call(client, json_request(fake, "sendMessage", msg));
    REQUIRE_FALSE(res.has_value());
    INFO(res.error().message());
    CHECK(fake.sent(42).empty());
    CHECK(fake.calls("sendMessage") == 1);
    CHECK(fake.requests().back().status == 0);
  }
  SECTION("drop_mid_response: the message was sent, the answer is cut") {
    fake.inject("sendMessage", fault::drop_mid_response{});
    const auto res = raw_call(client, json_request(fake, "sendMessage", msg));
    REQUIRE_FALSE(res.has_value());
    INFO(res.error().message());
    REQUIRE(fake.sent(42).size() == 1);
    CHECK(fake.sent(42)[0].visible_text == "hi");
  }
  SECTION("hang: the client's deadline ends it") {
    fake.inject("getMe", fault::hang{});
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = raw_call(client, json_request(fake, "getMe", json::object()), 300ms);
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error() == errc::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    CHECK(call(fake, "getMe").status == 200);  // the fake itself is still fine
  }
}

TEST_CASE("fake telegram: reject_html waits for a request with a parse_mode", "[telegram][fake]") {
  fake_telegram fake(k_token);
  fake.inject("sendMessage", fault::reject_html{});
  CHECK(call(fake, "sendMessage", json{{"chat_id", 42}, {"text", "plain"}}).status == 200);
  CHECK(fake.faults_left("sendMessage") == 1);
  const auto a = send_html(fake, "<b>valid</b>");
  check_bad_request(a, "can't parse entities: Can't find end of the entity starting at byte offset 0");
  CHECK(fake.faults_left("sendMessage") == 0);
  CHECK(send_html(fake, "<b>valid</b>").status == 200);
  CHECK(fake.sent(42).size() == 2);
}

TEST_CASE("fake telegram: HTML that Telegram accepts, with its entities", "[telegram][fake]") {
  fake_telegram fake(k_token);
  auto a = send_html(fake, "<b>bold</b> and <i>it</i> &lt;3 &amp; AT&T &#x1F600;");
  REQUIRE(a.status == 200);
  const json& m = a.body["result"];
  CHECK(m["message_id"] == 1);
  CHECK(m["from"]["is_bot"] == true);
  CHECK(m["from"]["username"] == "openclawd_test_bot");
  CHECK(m["chat"]["id"] == 42);
  // A bare '&' that starts no known entity stays text, as in TDLib's parser.
  CHECK(m["text"] == "bold and it <3 & AT&T \U0001F600");
  CHECK(m["entities"] == json::parse(R"([{"offset":0,"length":4,"type":"bold"},{"offset":9,"length":2,"type":"italic"}])"));
  // Non-ASCII is written as \u escapes (a surrogate pair for the emoji), as Telegram does.
  CHECK(a.raw.find("\\ud83d\\ude00") != std::string::npos);
  const auto sent = fake.sent(42);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].text == "<b>bold</b> and <i>it</i> &lt;3 &amp; AT&T &#x1F600;");
  CHECK(sent[0].visible_text == "bold and it <3 & AT&T \U0001F600");
  CHECK(sent[0].parse_mode == "HTML");

  // Entity offsets count UTF-16 units: the emoji is two.
  a = send_html(fake, "\U0001F600 <u>x</u>");
  CHECK(a.body["result"]["entities"] == json::parse(R"([{"offset":3,"length":1,"type":"underline"}])"));

  a = send_html(fake,
                "<a href=\"https://example.com/?a=1&amp;b=2\">link</a> <tg-spoiler>s</tg-spoiler> "
                "<span class=\"tg-spoiler\">t</span> <s>x</s><del>y</del> <blockquote expandable>q</blockquote> "
                "<pre><code class=\"language-cpp\">int x;</code></pre> <code>c</code> <tg-emoji emoji-id=\"5368324170671202286\">E</tg-emoji>");
  REQUIRE(a.status == 200);
  const json& e = a.body["result"]["entities"];
  CHECK(e[0] == json::parse(R"({"offset":0,"length":4,"type":"text_link","url":"https://example.com/?a=1&b=2"})"));
  CHECK(e[1]["type"] == "spoiler");
  CHECK(e[2]["type"] == "spoiler");
  CHECK(e[3]["type"] == "strikethrough");
  CHECK(e[4]["type"] == "strikethrough");
  CHECK(e[5]["type"] == "expandable_blockquote");
  // Visible: "link s t xy q int x; c E".
  CHECK(e[6] == json::parse(R"({"offset":14,"length":6,"type":"pre","language":"cpp"})"));
  CHECK(e[7] == json::parse(R"({"offset":21,"length":1,"type":"code"})"));
  CHECK(e[8]["type"] == "custom_emoji");
  CHECK(e[8]["custom_emoji_id"] == "5368324170671202286");

  // Reply to a known message; a reply to an unknown one fails unless told otherwise.
  a = call(fake, "sendMessage", json{{"chat_id", 42}, {"text", "re"}, {"reply_parameters", {{"message_id", 1}}}});
  REQUIRE(a.status == 200);
  CHECK(a.body["result"]["reply_to_message"]["message_id"] == 1);
  CHECK(fake.sent(42).back().reply_to == 1);
  check_bad_request(call(fake, "sendMessage", json{{"chat_id", 42}, {"text", "re"}, {"reply_to_message_id", 999}}),
                    "message to be replied not found");
  a = call(fake, "sendMessage",
           json{{"chat_id", 42}, {"text", "re"}, {"reply_parameters", {{"message_id", 999}, {"allow_sending_without_reply", true}}}});
  CHECK(a.status == 200);
}

TEST_CASE("fake telegram: HTML that Telegram refuses, with its wording", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const std::string p = "can't parse entities: ";
  check_bad_request(send_html(fake, "<x>hi</x>"), p + "Unsupported start tag \"x\" at byte offset 0");
  // Offsets are UTF-8 bytes: "é" is two.
  check_bad_request(send_html(fake, "\xC3\xA9<X>"), p + "Unsupported start tag \"x\" at byte offset 2");
  check_bad_request(send_html(fake, "a < b"), p + "Unsupported start tag \"\" at byte offset 2");
  check_bad_request(send_html(fake, "x <b"), p + "Unclosed start tag at byte offset 2");
  check_bad_request(send_html(fake, "<b>unclosed"), p + "Can't find end tag corresponding to start tag \"b\"");
  check_bad_request(send_html(fake, "<b><i>x</b></i>"),
                    p + "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\"");
  check_bad_request(send_html(fake, "</b>"), p + "Unexpected end tag at byte offset 0");
  check_bad_request(send_html(fake, "<span class=\"x\">s</span>"),
                    p + "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0");
  check_bad_request(send_html(fake, "<a href>x</a>"),
                    p + "Expected equal sign in declaration of an attribute of the tag \"a\" at byte offset 0");
  check_bad_request(send_html(fake, "<tg-emoji emoji-id=\"abc\">E</tg-emoji>"),
                    p + "Invalid custom emoji identifier specified");
  check_bad_request(call(fake, "sendMessage", json{{"chat_id", 42}, {"text", "x"}, {"parse_mode", "Klingon"}}),
                    "unsupported parse_mode");
  CHECK(fake.sent(42).empty());
}

TEST_CASE("fake telegram: text length is 1..4096 UTF-16 units after parsing", "[telegram][fake]") {
  fake_telegram fake(k_token);
  CHECK(send_html(fake, repeat("a", 4096)).status == 200);
  check_bad_request(send_html(fake, repeat("a", 4097)), "message is too long");
  // Markup does not count; decoded entities count once each.
  CHECK(send_html(fake, "<b>" + repeat("a", 4096) + "</b>").status == 200);
  CHECK(send_html(fake, repeat("&lt;", 4096)).status == 200);
  check_bad_request(send_html(fake, repeat("&lt;", 4097)), "message is too long");
  // An emoji is two UTF-16 units.
  CHECK(call(fake, "sendMessage", json{{"chat_id", 42}, {"text", repeat("\U0001F600", 2048)}}).status == 200);
  check_bad_request(call(fake, "sendMessage", json{{"chat_id", 42}, {"text", repeat("\U0001F600", 2048) + "a"}}),
                    "message is too long");
  // Surrounding whitespace is trimmed first.
  CHECK(send_html(fake, "  \n" + repeat("a", 4096) + "\n ").status == 200);
  CHECK(fake.sent(42).back().visible_text == repeat("a", 4096));

  check_bad_request(call(fake, "sendMessage", json{{"chat_id", 42}}), "message text is empty");
  check_bad_request(send_html(fake, ""), "message text is empty");
  check_bad_request(send_html(fake, " \n "), "message text is empty");
  check_bad_request(send_html(fake, "<b></b>"), "message text is empty");
  check_bad_request(call(fake, "sendMessage", json{{"text", "x"}}), "chat_id is empty");
  CHECK(fake.sent(42).size() == 5);
}

TEST_CASE("fake telegram: text that is not UTF-8 is refused", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto client = make_client();
  auto a = to_answer(raw_call(client, {http::verb::post, fake.method_url("sendMessage"),
                                       {{"Content-Type", "application/json"}}, "{\"chat_id\":42,\"text\":\"a\xFFz\"}"}));
  check_bad_request(a, "strings must be encoded in UTF-8");
  a = to_answer(raw_call(client, {http::verb::post, fake.method_url("sendMessage"),
                                  {{"Content-Type", "application/x-www-form-urlencoded"}}, "chat_id=42&text=a%FFz"}));
  check_bad_request(a, "strings must be encoded in UTF-8");
  a = to_answer(raw_call(client, {http::verb::post, fake.method_url("sendMessage"),
                                  {{"Content-Type", "application/json"}}, R"({"chat_id":42,"text":"\udc00"})"}));
  check_bad_request(a, "strings must be encoded in UTF-8");
  CHECK(fake.sent(42).empty());
}

TEST_CASE("fake telegram: editMessageText, not modified, drafts, actions, commands, deleteMessage",
          "[telegram][fake]") {
  fake_telegram fake(k_token);
  const auto first = call(fake, "sendMessage", json{{"chat_id", 42}, {"text", "hello"}});
  const auto id = first.body["result"]["message_id"].get<std::int64_t>();

  auto a = call(fake, "editMessageText", json{{"chat_id", 42}, {"message_id", id}, {"text", "hello"}});
  check_bad_request(a,
                    "message is not modified: specified new message content and reply markup are exactly the same "
                    "as a current content and reply markup of the message");
  // The same visible text with new formatting is a change.
  a = call(fake, "editMessageText", json{{"chat_id", 42}, {"message_id", id}, {"text", "<b>hello</b>"}, {"parse_mode", "HTML"}});
  CHECK(a.status == 200);
  CHECK(a.body["result"]["edit_date"].is_number_integer());
  a = call(fake, "editMessageText", json{{"chat_id", 42}, {"message_id", id}, {"text", "hello!"}});
  CHECK(a.status == 200);
  CHECK(a.body["result"]["text"] == "hello!");
  CHECK(fake.edits(42).size() == 2);
  CHECK(fake.message_text(42, id) == "hello!");
  check_bad_request(call(fake, "editMessageText", json{{"chat_id", 42}, {"message_id", 999}, {"text", "x"}}),
                    "message to edit not found");
  // A user's message cannot be edited by the bot.
  fake.push_message(42, 42, "mine");
  check_bad_request(call(fake, "editMessageText", json{{"chat_id", 42}, {"message_id", id + 1}, {"text", "x"}}),
                    "message can't be edited");

  a = call(fake, "sendMessageDraft", json{{"chat_id", 42}, {"draft_id", 7}, {"text", "par"}});
  CHECK(a.body == json::parse(R"({"ok":true,"result":true})"));
  CHECK(call(fake, "sendMessageDraft", json{{"chat_id", 42}, {"draft_id", 7}, {"text", ""}}).status == 200);
  check_bad_request(call(fake, "sendMessageDraft", json{{"chat_id", -100123}, {"draft_id", 7}, {"text", "x"}}),
                    "TEXTDRAFT_PEER_INVALID");
  check_bad_request(call(fake, "sendMessageDraft", json{{"chat_id", 42}, {"draft_id", 0}, {"text", "x"}}),
                    "draft_id must be non-zero");
  const auto drafts = fake.drafts(42);
  REQUIRE(drafts.size() == 2);
  CHECK(drafts[0].draft_id == 7);
  CHECK(drafts[0].visible_text == "par");
  CHECK(drafts[1].visible_text.empty());

  CHECK(call(fake, "sendChatAction", json{{"chat_id", 42}, {"action", "typing"}}).body["result"] == true);
  check_bad_request(call(fake, "sendChatAction", json{{"chat_id", 42}, {"action", "dancing"}}),
                    "wrong parameter action in request");
  REQUIRE(fake.actions(42).size() == 1);
  CHECK(fake.actions(42)[0].action == "typing");

  const json commands = json::parse(R"([{"command":"start","description":"Start"},{"command":"ask","description":"Ask"}])");
  CHECK(call(fake, "setMyCommands", json{{"commands", commands}}).body["result"] == true);
  CHECK(call(fake, "getMyCommands").body["result"] == commands);
  CHECK(fake.commands() == commands);
  check_bad_request(call(fake, "setMyCommands", json{{"commands", json::parse(R"([{"command":"Start","description":"x"}])")}}),
                    "BOT_COMMAND_INVALID");

  CHECK(call(fake, "deleteMessage", json{{"chat_id", 42}, {"message_id", id}}).body["result"] == true);
  CHECK(fake.deleted(42) == std::vector<std::int64_t>{id});
  CHECK_FALSE(fake.message_text(42, id));
  check_bad_request(call(fake, "deleteMessage", json{{"chat_id", 42}, {"message_id", id}}), "message to delete not found");
}

TEST_CASE("fake telegram: group messages carry command and mention entities", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const std::int64_t group = -1001234567890;
  fake.push_message(9, group, "/ask@openclawd_test_bot what is 2+2?", "supergroup");
  fake.push_message(9, group, "hey @openclawd_test_bot, hi", "supergroup");
  const auto a = call(fake, "getUpdates");
  REQUIRE(a.body["result"].size() == 2);
  const json& m1 = a.body["result"][0]["message"];
  CHECK(m1["chat"] == json{{"id", group}, {"title", "openclawd test group"}, {"type", "supergroup"}});
  CHECK(m1["entities"] == json::parse(R"([{"offset":0,"length":23,"type":"bot_command"}])"));
  const json& m2 = a.body["result"][1]["message"];
  CHECK(m2["message_id"] == 2);
  CHECK(m2["entities"] == json::parse(R"([{"offset":4,"length":19,"type":"mention"}])"));
  // The fake answers with the chat it learned.
  const auto sent = call(fake, "sendMessage", json{{"chat_id", group}, {"text", "4"}});
  CHECK(sent.body["result"]["chat"]["title"] == "openclawd test group");
  CHECK(sent.body["result"]["message_id"] == 3);
}

TEST_CASE("fake telegram: the recorded getUpdates body is served byte for byte", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const std::string recorded = read_fixture("telegram/getUpdates_recorded_anonymized_47.json");
  fake.push_raw_updates(recorded);
  CHECK(fake.pending_updates() == 47);
  auto a = call(fake, "getUpdates");
  CHECK(a.status == 200);
  CHECK(a.raw == recorded);
  CHECK(a.body == json::parse(recorded));
  CHECK(a.body["result"][46]["edited_message"]["location"]["horizontal_accuracy"] == 65.0);

  // Pushed updates are numbered after the recorded ones; a reply to a recorded message works.
  const auto id = fake.push_message(12345678, 12345678, "after");
  CHECK(id == 259894349);
  a = call(fake, "getUpdates", json{{"offset", id}});
  REQUIRE(a.body["result"].size() == 1);
  CHECK(a.body["result"][0]["message"]["message_id"] == 107);  // after /start (105) and the document (106)
  CHECK(call(fake, "sendMessage", json{{"chat_id", 12345678}, {"text", "hi"}, {"reply_to_message_id", 105}}).status == 200);
}

TEST_CASE("fake telegram: the recorded client cases, replayed", "[telegram][fake]") {
  fake_telegram fake(k_token);
  const json cases = json::parse(read_fixture("telegram/getUpdates_cases_incl_409.json"));
  fake.push_raw_updates(cases["ok"]["body"].dump());
  const auto client = make_client();
  // The with_params case, its parameters in the query string of a GET as written there.
  const std::string query = cases["with_params"]["params"].get<std::string>();
  auto a = to_answer(raw_call(client, {http::verb::get, fake.method_url("getUpdates") + "?" + query, {}, {}}));
  CHECK(a.status == 200);
  CHECK(a.body == cases["with_params"]["body"]);

  const json send = json::parse(read_fixture("telegram/sendMessage_ok.json"))["ok"];
  a = to_answer(raw_call(client, {http::verb::post, fake.method_url("sendMessage"),
                                  {{"Content-Type", "application/x-www-form-urlencoded"}},
                                  send["params"].get<std::string>()}));
  REQUIRE(a.status == 200);
  const json& want = send["body"]["result"];
  const json& got = a.body["result"];
  CHECK(got["text"] == want["text"]);
  CHECK(got["chat"]["id"] == want["chat"]["id"]);
  for (const auto& [k, v] : want.items()) {
    INFO(k);
    CHECK(got.contains(k));
    if (v.is_object()) {
      for (const auto& [k2, v2] : v.items()) {
        INFO(k2);
        CHECK(got[k].contains(k2));
        CHECK(got[k][k2].type() == v2.type());
      }
    }
  }
}

TEST_CASE("fake telegram: keep-alive connections answer requests in order", "[telegram][fake]") {
  fake_telegram fake(k_token);
  asio::io_context ioc;
  const auto target = "/bot" + k_token + "/getMe";
  const auto port = fake.port();
  const auto bodies = run_one(ioc, [&]() -> asio::awaitable<std::vector<std::string>> {
    beast::tcp_stream stream(ioc);
    stream.expires_after(10s);
    co_await stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                  asio::use_awaitable);
    std::vector<std::string> out;
    beast::flat_buffer buffer;
    for (int i = 0; i < 3; ++i) {
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, "127.0.0.1");
      req.keep_alive(true);
      co_await http::async_write(stream, req, asio::use_awaitable);
      http::response<http::string_body> res;
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
      out.push_back(std::to_string(res.result_int()) + (res.keep_alive() ? " keep-alive " : " close ") + res.body());
    }
    co_return out;
  }());
  REQUIRE(bodies.size() == 3);
  for (const auto& b : bodies) CHECK(b.rfind("200 keep-alive {\"ok\":true", 0) == 0);
  CHECK(fake.calls("getMe") == 3);
}

TEST_CASE("fake telegram: HTTPS with a CA made at test time", "[telegram][fake]") {
  test::fake_telegram_options options;
  options.tls = test_pki().issue({"localhost"}, {"127.0.0.1"});
  fake_telegram fake(k_token, options);
  CHECK(fake.base_url() == "https://127.0.0.1:" + std::to_string(fake.port()));

  const auto client = make_client(test_pki().ca.cert_pem);
  auto a = to_answer(raw_call(client, json_request(fake, "getMe", json::object())));
  CHECK(a.status == 200);
  CHECK(a.body["result"]["username"] == "openclawd_test_bot");

  // A long poll over TLS, released by an update.
  auto poll = in_background(make_client(test_pki().ca.cert_pem), json_request(fake, "getUpdates", json{{"timeout", 30}}));
  REQUIRE(fake.wait_for([&] { return fake.pending_poll(); }, 10s));
  fake.push_message(3, 3, "over tls");
  a = to_answer(poll.get());
  REQUIRE(a.body["result"].size() == 1);
  CHECK(a.body["result"][0]["message"]["text"] == "over tls");

  // Without the CA, verification fails and nothing reaches the fake.
  const auto before = fake.requests().size();
  const auto res = raw_call(make_client(), json_request(fake, "getMe", json::object()));
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error().category() == asio::error::get_ssl_category());
  CHECK(fake.requests().size() == before);
}

TEST_CASE("fake telegram: wait_for sees changes made by the server thread and gives up at its deadline",
          "[telegram][fake]") {
  fake_telegram fake(k_token);
  auto sender = in_background(make_client(), json_request(fake, "sendMessage", json{{"chat_id", 42}, {"text", "x"}}));
  CHECK(fake.wait_for([&] { return fake.sent(42).size() == 1; }, 10s));
  CHECK(sender.get().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(fake.wait_for([&] { return fake.sent(42).size() == 2; }, 200ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
}
