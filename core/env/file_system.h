#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace walle {

// Completion callbacks of asynchronous file operations. They run on the node's thread, after
// the submitting call returned, never re-entrantly.
using IoDone = absl::AnyInvocable<void(absl::Status)>;
using ReadDone = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;

// One open file of a node's data directory.
//
// Durability contract (the same in the simulator and on a real disk):
// - Operations on all files of one FileSystem, and directory operations, execute and complete
//   in submission order. (A per-file order, with different files overlapping, was tried: the
//   store's property test then found a recovery that committed more than was ever committed,
//   so some code in core relied on the order across files: tests/findings/per-file-order.md,
//   which names it (since fixed) and what per-file order still breaks. Until those are fixed,
//   both bindings keep the global order.)
// - A completed write is visible to later reads but is NOT durable: a crash may lose it
//   wholly, or tear it at sector boundaries (some sectors new, some old, a grown file's
//   unwritten part reading as zeros).
// - sync() makes durable every write and truncate submitted to this file before it, once its
//   callback reports OK. It does not make the file's *name* durable: see sync_dir().
// - Errors are reported per operation: kResourceExhausted for a full disk (nothing durable is
//   harmed, and later writes may succeed once space returns), kDataLoss for an unreadable
//   sector (a latent read error), kInvalidArgument for a bad offset or length.
class File {
 public:
  virtual ~File() = default;

  virtual const std::string& name() const = 0;

  // Size as seen by reads: includes completed writes that are not yet durable.
  virtual uint64_t size() const = 0;

  // Writes `data` at the end of the file (its size when the operation executes).
  virtual void append(std::string data, IoDone done) = 0;

  // Writes `data` at `offset` (pwrite). Writing past the end grows the file; a gap reads as
  // zeros.
  virtual void write_at(uint64_t offset, std::string data, IoDone done) = 0;

  // Writes `length` zero bytes at `offset`: write_at with zeros, without building them in
  // memory (preallocation by writing, so that later overwrites need no metadata update at
  // sync). Same durability and crash rules; a failure leaves the size as it was.
  virtual void zero_fill(uint64_t offset, uint64_t length, IoDone done) = 0;

  // Makes the file at least `offset + length` bytes long and reserves the space (fallocate):
  // bytes never written read as zeros, bytes already there are unchanged. Much cheaper than
  // zero_fill, but on a real disk the first overwrite of allocated space makes its sync also
  // commit a metadata update (ext4's unwritten extents), where zero-filled space needs none.
  // Same durability and crash rules as a write that grows the file; a failure (a full disk)
  // leaves the size as it was.
  virtual void allocate(uint64_t offset, uint64_t length, IoDone done) = 0;

  // Reads up to `length` bytes at `offset`; fewer at the end of the file, none past it.
  virtual void read_at(uint64_t offset, uint64_t length, ReadDone done) = 0;

  // A hint that bytes below `offset` that are durable will not be read soon: the binding may
  // drop them from memory (a WAL's pages are written once and read back rarely; kept, they
  // crowd out the page cache of the services that use it). Changes no content, no
  // durability, no order; has no callback. The simulator ignores it.
  virtual void release_cache_below(uint64_t offset) = 0;

  // fdatasync: see the durability contract above.
  virtual void sync(IoDone done) = 0;

  // Shrinks or grows (with zeros) the file to `size_bytes`. Durable after a later sync().
  virtual void truncate(uint64_t size_bytes, IoDone done) = 0;
};

enum class OpenMode {
  kOpenExisting,    // fail with kNotFound if the file does not exist
  kCreateIfMissing  // create an empty file if it does not exist
};

// A node's data directory: a flat namespace of files.
//
// Names are 1..255 bytes, without '/' or NUL; anything else is kInvalidArgument.
// Creating, renaming and removing files changes the directory, which is durable only after
// sync_dir() completes; a crash before that may undo any suffix of those changes, in order.
// The atomic-replace idiom is: write a temporary file, sync it, rename it over the target,
// sync_dir.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual absl::StatusOr<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) = 0;

  // The file names that start with `prefix` (all of them by default), sorted. A store lists
  // its own prefix only, so that opening N stores costs N small lookups, not N whole listings
  // of a directory of N stores' files.
  virtual std::vector<std::string> list(std::string_view prefix = {}) const = 0;

  virtual bool exists(std::string_view name) const = 0;

  // Atomically replaces `to` (if any) with `from`.
  virtual void rename(std::string_view from, std::string_view to, IoDone done) = 0;

  // Removes the name; open handles keep working until closed.
  virtual void remove(std::string_view name, IoDone done) = 0;

  // Makes every directory change submitted before it durable.
  virtual void sync_dir(IoDone done) = 0;
};

// Returns OK if `name` is a valid file name for FileSystem, else kInvalidArgument saying why.
absl::Status ValidateFileName(std::string_view name);

}  // namespace walle
