#include "runtime/cluster_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "runtime/data_dir.h"

namespace walle::runtime {
namespace {

TEST(ClusterFile, ServersAndStreamsAreRead) {
  absl::StatusOr<ClusterFile> f = parse_cluster_file(
      "# a comment\ncluster prod\nserver 0 127.0.0.1:7100\nserver 2 127.0.0.1:7102  # trailing\n"
      "\nstream orders\nstream payments\n",
      "cluster.conf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->cluster_id, "prod");
  EXPECT_EQ(f->server_ids(), (std::vector<NodeId>{0, 2}));
  EXPECT_EQ(f->servers.at(2).port, 7102);
  EXPECT_EQ(f->streams, (std::vector<std::string>{"orders", "payments"}));
}

TEST(ClusterFile, MistakesAreRefusedNamingTheLine) {
  const std::string head = "cluster prod\nserver 0 127.0.0.1:7100\nstream s\n";
  struct Case {
    std::string text;
    std::string error;
  } cases[] = {
      {head + "server 0 127.0.0.1:7101\n", "line 4: server 0 listed twice"},
      {head + "server 1 127.0.0.1:7100\n", "line 4: address 127.0.0.1:7100 listed twice"},
      {head + "server 1 1.2.3:7101\n", "'1.2.3' is not an IPv4 address"},
      {head + "server 1 localhost:7101\n", "names are not resolved"},
      {head + "server 1 127.0.0.1:70000\n", "the port must be 1..65535"},
      {head + "server 16777216 127.0.0.1:7101\n", "server ids must be below"},
      {head + "stream s\n", "line 4: stream s listed twice"},
      {head + "stream a/b\n", "line 4: stream store name 'a/b' may only hold [a-z0-9_-]"},
      {head + "stream a b\n", "line 4: want 'stream NAME'"},
      // Names the storage engine cannot open are refused here, not by every server later.
      {head + "stream Orders\n", "line 4: stream store name 'Orders' may only hold [a-z0-9_-]"},
      {head + "stream a.b\n", "may only hold [a-z0-9_-]"},
      {head + "stream " + std::string(65, 'x') + "\n", "must be 1..64 characters"},
      {head + "cluster other\n", "a second 'cluster' line"},
      {head + "servers 1 127.0.0.1:1\n", "unknown keyword 'servers'"},
      {"server 0 127.0.0.1:1\nstream s\n", "no 'cluster' line"},
      {"cluster c\nstream s\n", "no 'server' line"},
      {"cluster c\nserver 0 127.0.0.1:1\n", "no 'stream' line"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ClusterFile> f = parse_cluster_file(c.text, "cluster.conf");
    ASSERT_FALSE(f.ok()) << c.text;
    EXPECT_NE(f.status().message().find(c.error), std::string::npos)
        << f.status() << " (want: " << c.error << ")";
  }
}

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/walle-datadir-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DataDirTest, TheFirstClaimBindsTheDirectoryToItsNodeAndCluster) {
  ASSERT_TRUE(claim_data_dir(dir_, "prod", 1).ok());
  EXPECT_TRUE(claim_data_dir(dir_, "prod", 1).ok());
  const absl::Status other_node = claim_data_dir(dir_, "prod", 2);
  EXPECT_EQ(other_node.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other_node.message().find("belongs to node 1, not 2"), std::string::npos);
  const absl::Status other_cluster = claim_data_dir(dir_, "staging", 1);
  EXPECT_NE(other_cluster.message().find("belongs to cluster 'prod', not 'staging'"),
            std::string::npos);
  std::ofstream(dir_ + "/IDENTITY") << "garbage\n";
  EXPECT_EQ(claim_data_dir(dir_, "prod", 1).code(), absl::StatusCode::kDataLoss);
}

TEST_F(DataDirTest, ASecretMustBePrivateAndNotEmpty) {
  const std::string path = dir_ + "/secret";
  std::ofstream(path) << "s3cret\n";
  chmod(path.c_str(), 0644);
  EXPECT_EQ(read_secret_file(path).status().code(), absl::StatusCode::kPermissionDenied);
  chmod(path.c_str(), 0600);
  absl::StatusOr<std::string> secret = read_secret_file(path);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "s3cret");
  std::ofstream(path, std::ios::trunc) << "\n";
  EXPECT_EQ(read_secret_file(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(read_secret_file(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace walle::runtime
