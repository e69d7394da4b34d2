// The atomic file writer: a reader sees the old file or the new one, nothing
// is left behind, and failures are one UserError with a remedy.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernel/atomic_file.hpp"
#include "common/error.hpp"

namespace cwt
{
namespace
{

class AtomicFile : public ::testing::Test
{
  protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/cwt_atomic_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override
    {
        for (const auto& n : entries())
            ::unlink((dir_ + "/" + n).c_str());
        ::rmdir(dir_.c_str());
    }
    std::vector<std::string> entries() const
    {
        std::vector<std::string> out;
        if (DIR* d = opendir(dir_.c_str())) {
            while (dirent* e = readdir(d))
                if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
                    out.push_back(e->d_name);
            closedir(d);
        }
        return out;
    }
    static std::string slurp(const std::string& path)
    {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    std::string dir_;
};

TEST_F(AtomicFile, WritesAndReplacesWithoutLeavingTheTemporary)
{
    std::string path = dir_ + "/x.prom";
    write_file_atomically(path, "first\n");
    EXPECT_EQ(slurp(path), "first\n");
    struct stat st {
    };
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    ino_t first_ino = st.st_ino;
    write_file_atomically(path, "second\n");
    EXPECT_EQ(slurp(path), "second\n");
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_NE(st.st_ino, first_ino); // replaced by rename, not rewritten in place
    EXPECT_EQ(st.st_mode & 0777, 0644U);
    EXPECT_EQ(entries(), std::vector<std::string>{"x.prom"});
}

TEST_F(AtomicFile, TemporaryIsHiddenFromAPromGlob)
{
    std::string tmp = atomic_temp_path(dir_ + "/closewait_trace.prom");
    std::string base = tmp.substr(tmp.rfind('/') + 1);
    EXPECT_EQ(base[0], '.');
    EXPECT_NE(base.substr(base.size() - 5), ".prom");
    EXPECT_EQ(atomic_temp_path("rel.prom").rfind(".rel.prom.tmp.", 0), 0U);
}

TEST_F(AtomicFile, APlantedSymlinkAtTheTemporaryIsNotFollowed)
{
    std::string path = dir_ + "/x.prom";
    std::string victim = dir_ + "/victim";
    {
        std::ofstream(victim) << "keep\n";
    }
    ASSERT_EQ(symlink(victim.c_str(), atomic_temp_path(path).c_str()), 0);
    write_file_atomically(path, "metrics\n");
    EXPECT_EQ(slurp(victim), "keep\n");
    EXPECT_EQ(slurp(path), "metrics\n");
}

TEST_F(AtomicFile, MissingDirectoryIsOneErrorWithARemedy)
{
    try {
        write_file_atomically(dir_ + "/no/such/dir/x.prom", "x");
        FAIL() << "no error";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
        EXPECT_NE(e.remedy().find("create the directory"), std::string::npos) << e.remedy();
    }
    EXPECT_THROW(write_file_atomically(dir_ + "/", "x"), UserError);
    EXPECT_THROW(write_file_atomically("", "x"), UserError);
}

TEST_F(AtomicFile, RenameOntoADirectoryFailsAndCleansUp)
{
    std::string path = dir_ + "/adir";
    ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
    EXPECT_THROW(write_file_atomically(path, "x"), UserError);
    EXPECT_EQ(entries(), std::vector<std::string>{"adir"}); // temporary removed
}

TEST_F(AtomicFile, LargeContentIsWrittenWhole)
{
    std::string big(3 * 1024 * 1024, 'm');
    big.back() = '\n';
    write_file_atomically(dir_ + "/big.prom", big);
    EXPECT_EQ(slurp(dir_ + "/big.prom"), big);
}

} // namespace
} // namespace cwt
