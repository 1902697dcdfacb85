"""Transactions (multi) and ACLs through kazoo."""

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

import jute
from jute import Err, Mode, m_check, m_create, m_delete, m_set_data

# ----------------------------------------------------------------------
# transactions
# ----------------------------------------------------------------------


def test_transaction_success(client, base):
    client.create(base + "/old", b"o")
    client.create(base + "/data", b"d")
    t = client.transaction()
    t.create(base + "/new", b"n")
    t.create(base + "/seq-", sequence=True)
    t.check(base + "/data", 0)
    t.set_data(base + "/data", b"d2")
    t.delete(base + "/old")
    res = t.commit()
    assert res[0] == base + "/new"
    assert res[1] == base + "/seq-0000000003"
    assert res[2] is True
    assert isinstance(res[3], ZnodeStat) and res[3].version == 1
    assert res[4] is True
    assert len(res) == 5
    assert client.get(base + "/data")[0] == b"d2"
    assert client.exists(base + "/old") is None
    assert client.get(base + "/new")[0] == b"n"
    # all ops of a multi share one zxid
    new_st = client.exists(base + "/new")
    assert res[3].mzxid == new_st.czxid
    assert client.exists(base).pzxid == new_st.czxid


def test_transaction_failure_is_atomic(client, base):
    client.create(base + "/a", b"a")
    before = client.exists(base)
    t = client.transaction()
    t.create(base + "/b")
    t.set_data(base + "/a", b"changed")
    t.delete(base + "/missing")          # fails with NONODE
    t.create(base + "/c")
    t.check(base + "/a", 0)
    res = t.commit()
    # ZooKeeper answers every op with an ErrorResult: 0 for the ops before
    # the failing one (kazoo maps code 0 to RolledBackError), the real
    # error for the failing op, RUNTIMEINCONSISTENCY (-2) for the rest.
    assert [type(r) for r in res] == [
        RolledBackError, RolledBackError, NoNodeError,
        RuntimeInconsistency, RuntimeInconsistency]
    assert client.exists(base + "/b") is None
    assert client.exists(base + "/c") is None
    assert client.get(base + "/a")[0] == b"a"
    after = client.exists(base)
    assert after.cversion == before.cversion
    assert after.pzxid == before.pzxid


@pytest.mark.parametrize("failing,exc", [
    ("exists", NodeExistsError),
    ("badversion", BadVersionError),
    ("notempty", NotEmptyError),
    ("check", BadVersionError),
    ("noparent", NoNodeError),
])
def test_transaction_failure_kinds(client, base, failing, exc):
    client.create(base + "/x/y", b"", makepath=True)
    t = client.transaction()
    t.create(base + "/first")
    if failing == "exists":
        t.create(base + "/x")
    elif failing == "badversion":
        t.set_data(base + "/x", b"", version=7)
    elif failing == "notempty":
        t.delete(base + "/x")
    elif failing == "check":
        t.check(base + "/x", 3)
    elif failing == "noparent":
        t.create(base + "/nope/child")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, exc]
    assert client.exists(base + "/first") is None


def test_transaction_ops_see_earlier_ops(client, base):
    """Later ops of a multi see the effects of earlier ones."""
    t = client.transaction()
    t.create(base + "/p", b"1")
    t.create(base + "/p/c", b"2")
    t.set_data(base + "/p", b"3", version=0)
    t.check(base + "/p", 1)
    t.delete(base + "/p/c", version=0)
    t.delete(base + "/p")
    res = t.commit()
    assert res[0] == base + "/p" and res[1] == base + "/p/c"
    assert res[2].version == 1
    assert res[3:] == [True, True, True]
    assert client.exists(base + "/p") is None


def test_transaction_with_ephemeral_and_sequential(client, base):
    t = client.transaction()
    t.create(base + "/e", ephemeral=True)
    t.create(base + "/s", sequence=True)
    t.create(base + "/s", sequence=True)
    res = t.commit()
    assert res == [base + "/e", base + "/s0000000001",
                   base + "/s0000000002"]
    assert client.exists(base + "/e").ephemeralOwner == client.client_id[0]


def test_empty_transaction(client):
    assert client.transaction().commit() == []


def test_multi_wire_level_results(client, base, raw):
    """Reply header err of a failed multi is 0; each sub-result carries its
    own error; a failed multi still consumes a zxid."""
    c = raw()
    client.create(base + "/m")
    rep, res = c.multi([m_create(base + "/m1"), m_check(base + "/m", 5),
                        m_set_data(base + "/m", b"x")])
    assert rep.err == 0
    assert [(r.op, r.err) for r in res] == [
        (-1, 0), (-1, Err.BADVERSION), (-1, Err.RUNTIMEINCONSISTENCY)]
    # the MultiHeader of each result repeats its error code
    assert [r.header_err for r in res] == [
        0, Err.BADVERSION, Err.RUNTIMEINCONSISTENCY]
    failed_zxid = rep.zxid
    rep, res = c.multi([m_create(base + "/m1"), m_check(base + "/m", 0),
                        m_set_data(base + "/m", b"x"),
                        m_delete(base + "/m1")])
    assert rep.err == 0
    assert [(r.op, r.err) for r in res] == [(1, 0), (13, 0), (5, 0), (2, 0)]
    assert [r.header_err for r in res] == [0, 0, 0, 0]
    assert res[0].path == base + "/m1"
    assert res[2].stat.version == 1 and res[2].stat.mzxid == rep.zxid
    assert rep.zxid > failed_zxid
    # a create with a non-plain mode inside a multi
    rep, res = c.multi([m_create(base + "/m2", flags=Mode.EPHEMERAL)])
    assert rep.err == 0 and res[0].path == base + "/m2"


# ----------------------------------------------------------------------
# ACLs
# ----------------------------------------------------------------------


def test_default_acl_is_world_anyone(client, base):
    acls, st = client.get_acls(base)
    assert acls == OPEN_ACL_UNSAFE
    assert st.aversion == 0


def test_digest_acl(kazoo_factory, base):
    owner = kazoo_factory(auth_data=[("digest", "alice:secret")])
    other = kazoo_factory()
    p = base + "/private"
    owner.create(p, b"s3cret", acl=[make_digest_acl("alice", "secret",
                                                    all=True)])
    assert owner.get(p)[0] == b"s3cret"
    with pytest.raises(NoAuthError):
        other.get(p)
    with pytest.raises(NoAuthError):
        other.set(p, b"x")
    with pytest.raises(NoAuthError):
        other.get_children(p)
    with pytest.raises(NoAuthError):
        other.create(p + "/child")
    with pytest.raises(NoAuthError):
        other.set_acls(p, OPEN_ACL_UNSAFE)
    # exists is not ACL checked
    assert other.exists(p).dataLength == 6
    # the stored id is user:base64(sha1(user:password))
    acls, _ = owner.get_acls(p)
    assert acls == [ACL(Permissions.ALL,
                        Id("digest", make_digest_acl_credential(
                            "alice", "secret")))]
    # wrong password: still no access; right one: access
    other.add_auth("digest", "alice:wrong")
    with pytest.raises(NoAuthError):
        other.get(p)
    other.add_auth("digest", "alice:secret")
    assert other.get(p)[0] == b"s3cret"
    # deleting a child needs DELETE on the parent, not on the child
    owner.create(p + "/kid")
    third = kazoo_factory()
    with pytest.raises(NoAuthError):
        third.delete(p + "/kid")
    owner.delete(p + "/kid")


def test_permission_bits(kazoo_factory, base):
    owner = kazoo_factory(auth_data=[("digest", "bob:pw")])
    anon = kazoo_factory()
    bob_all = make_digest_acl("bob", "pw", all=True)
    p = base + "/perm"
    # world may only read and create children
    owner.create(p, b"v", acl=[bob_all, make_acl("world", "anyone",
                                                 read=True, create=True)])
    assert anon.get(p)[0] == b"v"
    anon.create(p + "/c1")
    with pytest.raises(NoAuthError):
        anon.set(p, b"w")
    with pytest.raises(NoAuthError):
        anon.delete(p + "/c1")     # needs DELETE on p
    owner.delete(p + "/c1")
    # read-only world
    q = base + "/ro"
    owner.create(q, b"ro", acl=READ_ACL_UNSAFE)
    assert anon.get(q)[0] == b"ro"
    with pytest.raises(NoAuthError):
        anon.set(q, b"x")
    with pytest.raises(NoAuthError):
        owner.set(q, b"x")         # the creator has no special rights
    with pytest.raises(NoAuthError):
        owner.set_acls(q, OPEN_ACL_UNSAFE)   # no ADMIN
    # ACLs are not inherited: a child gets its own ACL
    owner.create(p + "/c2", b"", acl=OPEN_ACL_UNSAFE)
    anon.set(p + "/c2", b"ok")
    # write only: get is refused
    w = base + "/wo"
    owner.create(w, b"", acl=[make_acl("world", "anyone", write=True)])
    anon.set(w, b"blind")
    with pytest.raises(NoAuthError):
        anon.get(w)
    # getACL needs READ or ADMIN
    with pytest.raises(NoAuthError):
        anon.get_acls(w)


def test_auth_scheme_acl(kazoo_factory, base):
    owner = kazoo_factory(auth_data=[("digest", "carol:pw")])
    anon = kazoo_factory()
    p = base + "/creator"
    owner.create(p, b"mine", acl=CREATOR_ALL_ACL)
    acls, _ = owner.get_acls(p)
    # the auth scheme is replaced by the session's authenticated identities
    assert acls == [ACL(Permissions.ALL, Id(
        "digest", make_digest_acl_credential("carol", "pw")))]
    with pytest.raises(NoAuthError):
        anon.get(p)
    # 'auth' without any authenticated identity is an invalid ACL
    with pytest.raises(InvalidACLError):
        anon.create(base + "/noauth", acl=CREATOR_ALL_ACL)
    assert anon.exists(base + "/noauth") is None


def test_invalid_acls(client, base):
    with pytest.raises(InvalidACLError):
        client.create(base + "/bad1",
                      acl=[ACL(Permissions.ALL, Id("digest", "nocolon"))])
    with pytest.raises(InvalidACLError):
        client.create(base + "/bad2",
                      acl=[ACL(Permissions.ALL, Id("nosuchscheme", "x"))])
    with pytest.raises(InvalidACLError):
        client.create(base + "/bad4",
                      acl=[ACL(Permissions.ALL, Id("ip", "not-an-ip"))])
    with pytest.raises(InvalidACLError):
        client.set_acls(base, [ACL(Permissions.ALL, Id("foo", "bar"))])
    assert client.exists(base + "/bad1") is None
    assert client.get_acls(base)[0] == OPEN_ACL_UNSAFE


def test_empty_acl_is_invalid(base, raw):
    # kazoo replaces an empty ACL list by its default, so use the wire
    c = raw()
    rep, _ = c.create(base + "/empty", acl=[])
    assert rep.err == Err.INVALIDACL
    rep, _ = c.set_acl(base, [])
    assert rep.err == Err.INVALIDACL
    rep, _ = c.create(base + "/w", acl=[jute.ACL(31, "world", "someone")])
    assert rep.err == Err.INVALIDACL


def test_set_acls_versions(client, base):
    p = base + "/v"
    client.create(p)
    st = client.set_acls(p, READ_ACL_UNSAFE + [
        make_acl("world", "anyone", admin=True)], version=0)
    assert st.aversion == 1
    with pytest.raises(BadVersionError):
        client.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    st = client.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert st.aversion == 2 and st.version == 0
    acls, st2 = client.get_acls(p)
    assert acls == OPEN_ACL_UNSAFE and st2 == st
    with pytest.raises(NoNodeError):
        client.set_acls(base + "/missing", OPEN_ACL_UNSAFE)
    with pytest.raises(NoNodeError):
        client.get_acls(base + "/missing")


def test_multiple_acl_entries_and_order(client, base):
    acl = [make_acl("world", "anyone", read=True),
           make_digest_acl("u1", "p1", write=True),
           make_acl("ip", "127.0.0.1", admin=True)]
    client.create(base + "/multi", acl=acl)
    acls, _ = client.get_acls(base + "/multi")
    assert acls == acl


def test_ip_acl(kazoo_factory, base):
    c = kazoo_factory()
    p = base + "/ip"
    c.create(p, b"local", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert c.get(p)[0] == b"local"
    c.set(p, b"still")
    q = base + "/ip_cidr"
    c.create(q, b"net", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert c.get(q)[0] == b"net"
    r = base + "/ip_other"
    c.create(r, b"far", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        c.get(r)


def test_add_auth_unknown_scheme_fails(kazoo_factory):
    c = kazoo_factory()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_the_super_digest_user_passes_every_acl(kazoo_factory, client, base):
    """zoo.cfg `DigestAuthenticationProvider.superDigest`: a client authenticated
    as that user reads and writes a node whose ACL names someone else; the same
    user with a wrong password is an ordinary digest identity."""
    import harness
    owner = make_digest_acl("owner", "pw", all=True)
    client.create(base + "/guarded", b"g", acl=[owner])
    wrong = kazoo_factory(auth_data=[("digest", "super:wrong")])
    with pytest.raises(NoAuthError):
        wrong.get(base + "/guarded")
    root = kazoo_factory(auth_data=[("digest", "super:" + harness.SUPER_PASSWORD)])
    assert root.get(base + "/guarded")[0] == b"g"
    root.set(base + "/guarded", b"changed")
    assert root.get(base + "/guarded")[0] == b"changed"
