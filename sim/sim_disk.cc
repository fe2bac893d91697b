#include "sim/sim_disk.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/check.h"
#include "sim/node_host.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {
absl::Status no_such_file(std::string_view name) {
  return absl::NotFoundError(absl::StrCat("no file named '", std::string(name), "'"));
}
}  // namespace

// A handle on one inode. Operations go through the disk's queue; the handle may outlive the
// name (remove keeps open handles working, as on POSIX).
class SimFile final : public File {
 public:
  SimFile(SimDisk& disk, uint64_t ino, std::string name)
      : disk_(disk), ino_(ino), name_(std::move(name)) {
    ++disk_.inodes_.at(ino_).open_handles;
  }
  ~SimFile() override { disk_.close(ino_); }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return disk_.inodes_.at(ino_).data.size(); }

  void append(std::string data, IoDone done) override {
    const int64_t latency = disk_.write_latency_ns(data.size());
    disk_.submit(
        "append", ino_, latency,
        [disk = &disk_, ino = ino_, data = std::move(data)] {
          return disk->write(ino, std::nullopt, data);
        },
        std::move(done));
  }

  void write_at(uint64_t offset, std::string data, IoDone done) override {
    const int64_t latency = disk_.write_latency_ns(data.size());
    disk_.submit(
        "write", ino_, latency,
        [disk = &disk_, ino = ino_, offset, data = std::move(data)] {
          return disk->write(ino, offset, data);
        },
        std::move(done));
  }

  void zero_fill(uint64_t offset, uint64_t length, IoDone done) override {
    disk_.submit(
        "zero_fill", ino_, disk_.write_latency_ns(length),
        [disk = &disk_, ino = ino_, offset, length] { return disk->write_zeros(ino, offset, length); },
        std::move(done));
  }

  void allocate(uint64_t offset, uint64_t length, IoDone done) override {
    // Only the growth is written, and quickly: reserving space moves no data.
    disk_.submit(
        "allocate", ino_, disk_.write_latency_ns(0),
        [disk = &disk_, ino = ino_, offset, length] { return disk->allocate(ino, offset, length); },
        std::move(done));
  }

  void read_at(uint64_t offset, uint64_t length, ReadDone done) override {
    auto result = std::make_shared<absl::StatusOr<std::string>>();
    disk_.submit(
        "read", ino_, disk_.write_latency_ns(std::min<uint64_t>(length, size())),
        [disk = &disk_, ino = ino_, offset, length, result] {
          *result = disk->read(ino, offset, length);
          return result->status();
        },
        [result, done = std::move(done)](absl::Status) mutable { done(std::move(*result)); });
  }

  void release_cache_below(uint64_t) override {}  // a memory hint: nothing to model

  void sync(IoDone done) override {
    disk_.submit(
        "sync", ino_, disk_.sync_latency_ns(), [disk = &disk_, ino = ino_] { return disk->sync(ino); },
        std::move(done));
  }

  void truncate(uint64_t size_bytes, IoDone done) override {
    disk_.submit(
        "truncate", ino_, disk_.write_latency_ns(0),
        [disk = &disk_, ino = ino_, size_bytes] { return disk->truncate(ino, size_bytes); },
        std::move(done));
  }

 private:
  SimDisk& disk_;
  uint64_t ino_;
  std::string name_;
};

SimDisk::SimDisk(NodeHost& host, const DiskConfig& config) : host_(host), config_(config) {}

SimDisk::~SimDisk() = default;

void SimDisk::submit(const char* op, uint64_t ino, int64_t latency_ns,
                     absl::AnyInvocable<absl::Status()> apply, IoDone done) {
  Simulation& sim = host_.sim();
  const int64_t at_ns = std::max(sim.now_ns(), busy_until_ns_) + latency_ns;
  busy_until_ns_ = at_ns;
  host_.post_at(at_ns, [this, op, ino, apply = std::move(apply), done = std::move(done)]() mutable {
    absl::Status status = apply();
    Trace& trace = host_.sim().trace();
    trace.record(host_.sim().now_ns(), host_.id(), TraceKind::kDiskOp,
                 static_cast<uint64_t>(status.code()), used_bytes_);
    if (trace.text_enabled()) {
      auto it = inodes_.find(ino);
      trace.text(host_.sim().now_ns(), host_.id(),
                 absl::StrCat("disk ", op, ino == 0 ? "" : " ",
                              it == inodes_.end() ? "" : it->second.name, " ",
                              it == inodes_.end() ? "" : absl::StrCat(it->second.data.size(), "B "),
                              status.ok() ? "ok" : status.ToString()));
    }
    done(std::move(status));
  });
}

int64_t SimDisk::write_latency_ns(uint64_t bytes) const {
  return config_.write_latency_ns +
         static_cast<int64_t>(bytes * kNanosPerSecond / config_.write_bytes_per_second);
}

int64_t SimDisk::sync_latency_ns() {
  Prng& prng = host_.fault_prng();
  if (prng.chance(config_.slow_sync_probability)) {
    ++host_.sim().stats().slow_syncs;
    return prng.uniform_between(config_.sync_latency_max_ns, config_.slow_sync_max_ns);
  }
  return prng.uniform_between(config_.sync_latency_min_ns, config_.sync_latency_max_ns);
}

absl::StatusOr<std::unique_ptr<File>> SimDisk::open(std::string_view name, OpenMode mode) {
  if (absl::Status s = ValidateFileName(name); !s.ok()) return s;
  auto it = names_.find(name);
  if (it == names_.end()) {
    if (mode == OpenMode::kOpenExisting) {
      return no_such_file(name);
    }
    const uint64_t ino = next_inode_++;
    inodes_[ino].name = std::string(name);
    it = names_.emplace(std::string(name), ino).first;
    unsynced_dir_ops_.push_back(DirOp{DirOp::kCreate, std::string(name), "", ino});
  }
  return std::make_unique<SimFile>(*this, it->second, std::string(name));
}

std::vector<std::string> SimDisk::list(std::string_view prefix) const {
  std::vector<std::string> names;
  for (auto it = names_.lower_bound(prefix); it != names_.end() && it->first.starts_with(prefix);
       ++it) {
    names.push_back(it->first);
  }
  return names;
}

bool SimDisk::exists(std::string_view name) const { return names_.contains(name); }

void SimDisk::rename(std::string_view from, std::string_view to, IoDone done) {
  absl::Status valid = ValidateFileName(from);
  if (valid.ok()) valid = ValidateFileName(to);
  submit(
        "rename", 0, config_.write_latency_ns,
      [this, valid, from = std::string(from), to = std::string(to)]() -> absl::Status {
        if (!valid.ok()) return valid;
        auto it = names_.find(from);
        if (it == names_.end()) return no_such_file(from);
        DirOp op{DirOp::kRename, from, to, it->second};
        inodes_.at(it->second).name = to;
        apply_dir_op(names_, op);
        unsynced_dir_ops_.push_back(std::move(op));
        collect_garbage();
        return absl::OkStatus();
      },
      std::move(done));
}

void SimDisk::remove(std::string_view name, IoDone done) {
  absl::Status valid = ValidateFileName(name);
  submit(
        "remove", 0, config_.write_latency_ns,
      [this, valid, name = std::string(name)]() -> absl::Status {
        if (!valid.ok()) return valid;
        auto it = names_.find(name);
        if (it == names_.end()) return no_such_file(name);
        DirOp op{DirOp::kRemove, name, "", it->second};
        apply_dir_op(names_, op);
        unsynced_dir_ops_.push_back(std::move(op));
        collect_garbage();
        return absl::OkStatus();
      },
      std::move(done));
}

void SimDisk::sync_dir(IoDone done) {
  submit(
        "sync_dir", 0, sync_latency_ns(),
      [this] {
        ++host_.sim().stats().disk_syncs;
        durable_names_ = names_;
        unsynced_dir_ops_.clear();
        collect_garbage();  // a removal is final now: its space returns
        return absl::OkStatus();
      },
      std::move(done));
}

void SimDisk::apply_dir_op(NameMap& names, const DirOp& op) const {
  switch (op.kind) {
    case DirOp::kCreate:
      names[op.name] = op.inode;
      break;
    case DirOp::kRename:
      names.erase(op.name);
      names[op.to] = op.inode;
      break;
    case DirOp::kRemove:
      names.erase(op.name);
      break;
  }
}

void SimDisk::mark_dirty(Inode& inode, uint64_t first_sector, uint64_t end_sector) {
  const uint64_t sector = config_.sector_size_bytes;
  // Sectors past the durable size are dirty with no durable bytes, all of them, implicitly.
  end_sector = std::min(end_sector, implicitly_dirty_from(inode));
  for (uint64_t s = first_sector; s < end_sector; ++s) {
    if (inode.durable_sectors.contains(s)) continue;
    // A clean sector's current bytes are its durable bytes (up to the durable size).
    const uint64_t begin = s * sector;
    const uint64_t durable_end = std::min({begin + sector, inode.durable_size,
                                           static_cast<uint64_t>(inode.data.size())});
    inode.durable_sectors.emplace(
        s, begin < durable_end ? inode.data.read(begin, durable_end - begin) : std::string());
  }
}

absl::StatusOr<SimDisk::Inode*> SimDisk::find_inode(uint64_t ino) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) {
    return absl::FailedPreconditionError("file was closed and removed before the I/O ran");
  }
  return &it->second;
}

template <class Fill>
absl::Status SimDisk::write_with(uint64_t ino, std::optional<uint64_t> at, uint64_t length,
                                 Fill fill) {
  absl::StatusOr<Inode*> found = find_inode(ino);
  if (!found.ok()) return found.status();
  Inode& inode = **found;
  const uint64_t offset = at.value_or(inode.data.size());
  SimStats& stats = host_.sim().stats();
  const uint64_t end = offset + length;
  if (end < offset) return absl::InvalidArgumentError("write offset + length overflows");
  const uint64_t growth = end > inode.data.size() ? end - inode.data.size() : 0;
  if (used_bytes_ + growth > config_.capacity_bytes ||
      (growth > 0 && host_.fault_prng().chance(config_.enospc_probability))) {
    ++stats.enospc_errors;
    return absl::ResourceExhaustedError(
        absl::StrCat("ENOSPC: writing ", length, " bytes at offset ", offset, " needs ", growth,
                     " more bytes; disk holds ", used_bytes_, " of ", config_.capacity_bytes));
  }
  if (length == 0) return absl::OkStatus();
  const uint64_t sector = config_.sector_size_bytes;
  // Growing past the end also dirties the zero-filled gap.
  const uint64_t dirty_from = std::min<uint64_t>(offset, inode.data.size()) / sector;
  mark_dirty(inode, dirty_from, (end + sector - 1) / sector);
  fill(inode.data, offset);
  used_bytes_ += growth;
  // A sector wholly rewritten is remapped by the drive: its latent error is gone.
  for (uint64_t s = (offset + sector - 1) / sector; (s + 1) * sector <= end; ++s) {
    inode.bad_sectors.erase(s);
  }
  ++stats.disk_writes;
  stats.disk_bytes_written += length;
  if (write_observer_) write_observer_(inode.name, length);
  return absl::OkStatus();
}

absl::Status SimDisk::write(uint64_t ino, std::optional<uint64_t> at, std::string_view bytes) {
  return write_with(ino, at, bytes.size(),
                    [bytes](FileBytes& data, uint64_t offset) { data.write(offset, bytes); });
}

absl::Status SimDisk::write_zeros(uint64_t ino, uint64_t offset, uint64_t length) {
  return write_with(ino, offset, length,
                    [length](FileBytes& data, uint64_t at) { data.zero(at, length); });
}

absl::Status SimDisk::allocate(uint64_t ino, uint64_t offset, uint64_t length) {
  absl::StatusOr<Inode*> found = find_inode(ino);
  if (!found.ok()) return found.status();
  const uint64_t end = offset + length;
  if (end < offset) return absl::InvalidArgumentError("allocate offset + length overflows");
  const uint64_t size = (*found)->data.size();
  if (end <= size) return absl::OkStatus();
  return write_zeros(ino, size, end - size);
}

absl::Status SimDisk::truncate(uint64_t ino, uint64_t size) {
  absl::StatusOr<Inode*> found = find_inode(ino);
  if (!found.ok()) return found.status();
  Inode& inode = **found;
  const uint64_t old_size = inode.data.size();
  if (size > old_size && used_bytes_ + (size - old_size) > config_.capacity_bytes) {
    ++host_.sim().stats().enospc_errors;
    return absl::ResourceExhaustedError(absl::StrCat("ENOSPC: cannot grow file to ", size, " bytes"));
  }
  const uint64_t sector = config_.sector_size_bytes;
  mark_dirty(inode, std::min(size, old_size) / sector,
             (std::max(size, old_size) + sector - 1) / sector);
  inode.data.resize(size);
  used_bytes_ = used_bytes_ - old_size + size;
  // Sectors cut away are deallocated: a later write there lands on fresh sectors.
  inode.bad_sectors.erase(inode.bad_sectors.lower_bound((size + sector - 1) / sector),
                          inode.bad_sectors.end());
  return absl::OkStatus();
}

absl::StatusOr<std::string> SimDisk::read(uint64_t ino, uint64_t offset, uint64_t length) {
  absl::StatusOr<Inode*> found = find_inode(ino);
  if (!found.ok()) return found.status();
  const Inode& inode = **found;
  SimStats& stats = host_.sim().stats();
  ++stats.disk_reads;
  if (offset >= inode.data.size() || length == 0) return std::string();
  const uint64_t end = std::min<uint64_t>(inode.data.size(), offset + std::min(length, UINT64_MAX - offset));
  const uint64_t sector = config_.sector_size_bytes;
  auto bad = inode.bad_sectors.lower_bound(offset / sector);
  if (bad != inode.bad_sectors.end() && *bad * sector < end) {
    ++stats.read_errors;
    return absl::DataLossError(
        absl::StrCat("EIO: latent error in sector at offset ", *bad * sector));
  }
  if (host_.fault_prng().chance(config_.read_error_probability)) {
    ++stats.read_errors;
    return absl::DataLossError(absl::StrCat("EIO: transient read error at offset ", offset));
  }
  return inode.data.read(offset, end - offset);
}

absl::Status SimDisk::sync(uint64_t ino) {
  absl::StatusOr<Inode*> found = find_inode(ino);
  if (!found.ok()) return found.status();
  (*found)->durable_sectors.clear();
  (*found)->durable_size = (*found)->data.size();
  ++host_.sim().stats().disk_syncs;
  return absl::OkStatus();
}

void SimDisk::close(uint64_t ino) {
  auto it = inodes_.find(ino);
  WALLE_CHECK(it != inodes_.end() && it->second.open_handles > 0);
  --it->second.open_handles;
  // Only this inode can have lost its last reference (a scan of the names, not a set of all).
  if (it->second.open_handles > 0) return;
  auto refers = [ino](const auto& entry) { return entry.second == ino; };
  if (std::any_of(names_.begin(), names_.end(), refers) ||
      std::any_of(durable_names_.begin(), durable_names_.end(), refers) ||
      std::any_of(unsynced_dir_ops_.begin(), unsynced_dir_ops_.end(),
                  [ino](const DirOp& op) { return op.inode == ino; })) {
    return;
  }
  used_bytes_ -= it->second.data.size();
  inodes_.erase(it);
}

void SimDisk::collect_garbage() {
  // An inode lives while a current or durable name, or an open handle, refers to it.
  absl::btree_set<uint64_t> live;
  for (const auto& [name, ino] : names_) live.insert(ino);
  for (const auto& [name, ino] : durable_names_) live.insert(ino);
  for (const DirOp& op : unsynced_dir_ops_) live.insert(op.inode);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    if (it->second.open_handles == 0 && !live.contains(it->first)) {
      used_bytes_ -= it->second.data.size();
      it = inodes_.erase(it);
    } else {
      ++it;
    }
  }
}

CrashMode SimDisk::random_crash_mode() {
  if (!config_.torn_writes) return CrashMode::kLoseAll;
  switch (host_.fault_prng().uniform(4)) {
    case 0: return CrashMode::kLoseAll;
    case 1: return CrashMode::kKeepAll;
    default: return CrashMode::kTorn;
  }
}

void SimDisk::crash_file(Inode& inode, CrashMode mode) {
  if (inode.durable_sectors.empty() && inode.data.size() == inode.durable_size) return;
  Prng& prng = host_.fault_prng();
  SimStats& stats = host_.sim().stats();
  const uint64_t sector = config_.sector_size_bytes;
  // The size is metadata: either the last synced size or the current one survives.
  uint64_t size = inode.durable_size;
  if (mode == CrashMode::kKeepAll || (mode == CrashMode::kTorn && prng.chance(0.5))) {
    size = inode.data.size();
  }
  FileBytes image = inode.data;
  image.resize(size);
  uint64_t kept = 0;
  uint64_t lost = 0;
  // Each dirty sector in order: landed, or back to its durable bytes (zeros past them).
  auto decide = [&](uint64_t s, std::string_view durable) {
    const uint64_t begin = s * sector;
    const bool landed =
        mode == CrashMode::kKeepAll || (mode == CrashMode::kTorn && prng.chance(0.5));
    if (landed) {
      ++kept;
      return;
    }
    ++lost;
    const uint64_t end = std::min(size, begin + sector);
    std::string old(durable);
    old.resize(end - begin, '\0');
    image.write(begin, old);
  };
  for (const auto& [s, durable] : inode.durable_sectors) {
    if (s * sector >= size) break;
    decide(s, durable);
  }
  for (uint64_t s = implicitly_dirty_from(inode); s * sector < size; ++s) decide(s, {});
  stats.landed_unsynced_sectors += kept;
  stats.lost_unsynced_sectors += lost;
  if (kept > 0 && lost > 0) ++stats.torn_crashes;
  used_bytes_ = used_bytes_ - inode.data.size() + image.size();
  inode.data = std::move(image);
  inode.durable_size = inode.data.size();
  inode.durable_sectors.clear();
}

void SimDisk::crash(CrashMode mode) {
  // Directory changes are journaled in order: a prefix of them survives.
  size_t kept_ops = 0;
  if (mode == CrashMode::kKeepAll) kept_ops = unsynced_dir_ops_.size();
  if (mode == CrashMode::kTorn) kept_ops = host_.fault_prng().uniform(unsynced_dir_ops_.size() + 1);
  names_ = durable_names_;
  for (size_t i = 0; i < kept_ops; ++i) apply_dir_op(names_, unsynced_dir_ops_[i]);
  host_.sim().stats().lost_dir_ops += unsynced_dir_ops_.size() - kept_ops;
  durable_names_ = names_;
  unsynced_dir_ops_.clear();
  for (auto& [ino, inode] : inodes_) {
    WALLE_CHECK_MSG(inode.open_handles == 0, "a crashed process still holds a file open");
    crash_file(inode, mode);
  }
  collect_garbage();
  busy_until_ns_ = 0;
}

void SimDisk::wipe() {
  inodes_.clear();
  names_.clear();
  durable_names_.clear();
  unsynced_dir_ops_.clear();
  used_bytes_ = 0;
  corruptions_ = 0;
  busy_until_ns_ = 0;
}

absl::Status SimDisk::flip_bit(std::string_view name, uint64_t offset, int bit) {
  auto it = names_.find(name);
  if (it == names_.end()) return no_such_file(name);
  Inode& inode = inodes_.at(it->second);
  if (offset >= inode.data.size()) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end of '", std::string(name),
                                              "' (", inode.data.size(), " bytes)"));
  }
  const char mask = static_cast<char>(1u << (bit & 7));
  inode.data.flip(offset, mask);
  // Rot hits the medium: the durable copy of a dirty sector rots too.
  const uint64_t sector = config_.sector_size_bytes;
  auto dirty = inode.durable_sectors.find(offset / sector);
  if (dirty != inode.durable_sectors.end() && offset % sector < dirty->second.size()) {
    dirty->second[offset % sector] ^= mask;
  }
  ++corruptions_;
  ++host_.sim().stats().bit_flips;
  host_.sim().trace().record(host_.sim().now_ns(), host_.id(), TraceKind::kDiskFault, offset, 1);
  return absl::OkStatus();
}

absl::Status SimDisk::add_latent_error(std::string_view name, uint64_t offset) {
  auto it = names_.find(name);
  if (it == names_.end()) return no_such_file(name);
  Inode& inode = inodes_.at(it->second);
  if (offset >= inode.data.size()) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end of '", std::string(name), "'"));
  }
  inode.bad_sectors.insert(offset / config_.sector_size_bytes);
  ++corruptions_;
  ++host_.sim().stats().latent_errors_injected;
  host_.sim().trace().record(host_.sim().now_ns(), host_.id(), TraceKind::kDiskFault, offset, 2);
  return absl::OkStatus();
}

namespace {
// Picks a uniformly random byte of all named files, or nullopt if they are all empty.
template <class Names, class Inodes>
std::optional<std::pair<std::string, uint64_t>> random_byte(const Names& names,
                                                            const Inodes& inodes, Prng& prng) {
  uint64_t total = 0;
  for (const auto& [name, ino] : names) total += inodes.at(ino).data.size();
  if (total == 0) return std::nullopt;
  uint64_t pick = prng.uniform(total);
  for (const auto& [name, ino] : names) {
    const uint64_t size = inodes.at(ino).data.size();
    if (pick < size) return std::pair{name, pick};
    pick -= size;
  }
  return std::nullopt;
}
}  // namespace

bool SimDisk::flip_random_bit() {
  auto target = random_byte(names_, inodes_, host_.fault_prng());
  if (!target) return false;
  return flip_bit(target->first, target->second, static_cast<int>(host_.fault_prng().uniform(8)))
      .ok();
}

bool SimDisk::rot_newest_records(std::string_view name_part, uint64_t window_bytes, int flips) {
  const std::string* newest = nullptr;
  for (const auto& [name, ino] : names_) {
    if (name.find(name_part) == std::string::npos || name.find(".spare.") != std::string::npos ||
        name.find(".prep.") != std::string::npos) {
      continue;
    }
    if (newest == nullptr || name > *newest) newest = &name;
  }
  if (newest == nullptr) return false;
  const std::string name = *newest;
  const uint64_t end = inodes_.at(names_.at(name)).data.written_end();
  if (end == 0) return false;
  const uint64_t begin = end > window_bytes ? end - window_bytes : 0;
  Prng& prng = host_.fault_prng();
  for (int i = 0; i < flips; ++i) {
    const uint64_t offset = begin + prng.uniform(end - begin);
    WALLE_CHECK(flip_bit(name, offset, static_cast<int>(prng.uniform(8))).ok());
  }
  return true;
}

bool SimDisk::inject_latent_error() {
  auto target = random_byte(names_, inodes_, host_.fault_prng());
  if (!target) return false;
  return add_latent_error(target->first, target->second).ok();
}

absl::StatusOr<std::string> SimDisk::peek(std::string_view name) const {
  auto it = names_.find(name);
  if (it == names_.end()) return no_such_file(name);
  return inodes_.at(it->second).data.to_string();
}

}  // namespace walle::sim
