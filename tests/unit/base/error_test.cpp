#include "base/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace warden::base {
namespace {

TEST(Error, AnErrnoFailureSaysWhereAndWhy) {
  const Error error = makeError(EBUSY, "binding NFQUEUE 0");
  EXPECT_EQ(error.source, Error::Source::kErrno);
  EXPECT_EQ(error.code, EBUSY);
  EXPECT_EQ(error.message(), "binding NFQUEUE 0: Device or resource busy");
  errno = ENOENT;
  EXPECT_EQ(errnoError("opening x").code, ENOENT);
}

TEST(Error, WithoutACodeTheWhereIsTheWholeMessage) {
  EXPECT_EQ(makeError(0, "/w/warden.db: newer than this warden").message(),
            "/w/warden.db: newer than this warden");
}

TEST(Error, AnSqliteFailureKeepsItsCodeAndSqlitesReason) {
  // SQLITE_BUSY is 5, which is also EIO: the source says which one it is.
  const Error error = makeSqliteError(5, "/w/warden.db: insert verdict_log row",
                                      "database is locked (SQLITE_BUSY)");
  EXPECT_EQ(error.source, Error::Source::kSqlite);
  EXPECT_EQ(error.code, 5);
  EXPECT_EQ(error.message(),
            "/w/warden.db: insert verdict_log row: database is locked (SQLITE_BUSY)");
}

}  // namespace
}  // namespace warden::base
