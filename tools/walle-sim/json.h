#pragma once

// Just enough JSON for the sweep's results files (JSON lines, docs/simulation.md "Sweeps
// across machines"): a string escaper, a one-line object writer and a small parser to read
// the lines back. Not a general JSON library: no dependency is worth it for flat records.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace walle::sim {

// `text` as a JSON string literal, quotes included. Quote, backslash and control characters
// are escaped; other bytes pass through, so UTF-8 stays UTF-8.
std::string json_quote(std::string_view text);

// Builds one JSON object, fields in the order added.
class JsonObject {
 public:
  JsonObject& add_string(std::string_view key, std::string_view value);
  JsonObject& add_uint(std::string_view key, uint64_t value);
  JsonObject& add_int(std::string_view key, int64_t value);
  // Non-finite values (not representable in JSON) are written as null.
  JsonObject& add_double(std::string_view key, double value);
  JsonObject& add_bool(std::string_view key, bool value);
  // `json` must already be valid JSON (a nested object or an array).
  JsonObject& add_raw(std::string_view key, std::string_view json);
  JsonObject& add_object(std::string_view key, const JsonObject& value) {
    return add_raw(key, value.str());
  }
  // The object, "{...}", on one line.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void add_key(std::string_view key);
  std::string body_;
};

struct JsonMember;

// A parsed JSON value. Numbers keep their text, so 64-bit seeds and counts stay exact.
struct JsonValue {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number as written
  std::vector<JsonValue> items;
  std::vector<JsonMember> members;  // in the order written

  // The member named `key` of an object, or nullptr.
  const JsonValue* find(std::string_view key) const;
};

// One member of an object. (A std::pair would need JsonValue complete inside its own
// definition, which libstdc++ accepts from GCC and refuses from clang.)
struct JsonMember {
  std::string name;
  JsonValue value;
};

// Parses one JSON text (surrounding whitespace allowed). Errors say what and at which byte.
absl::StatusOr<JsonValue> parse_json(std::string_view text);

}  // namespace walle::sim
