// Runs the real Hadoop S3A FileSystem against a Coffer server, one scenario after another
// in one JVM (JVM and Hadoop start-up dominate otherwise). test/interop/hadoop-s3a.test.ts
// writes the scenarios and reads the results; README.md says how to run it by hand.
//
// Usage: java -cp <classpath> dev.coffer.interop.S3aInterop SCENARIO.properties...
//
// A scenario file names a core-site.xml, an s3a:// directory, a mode and what to expect:
//   name=seed-properties
//   conf=/abs/path/core-site.xml[,/abs/path/more.xml]   (Hadoop resources, later ones win)
//   dir=s3a://bucket/some/dir
//   mode=roundtrip | denied
//   sizes=0,1000,100000,12582912          (roundtrip: the files written)
//   overwrite=true                        (roundtrip: each file is written twice, the second time with other bytes)
//   expect.sse=aws:kms | aws:kms:dsse | AES256 | absent | any
//   expect.kmsKeyId=<key ARN> | prefix:<text> | absent | any
//   denied.existing=a.bin,b.bin           (denied: files already under dir, written by another principal)
//   denied.expect=http-403 | translated   (denied: any 403 AccessDenied, or S3A's java.nio.file.AccessDeniedException)
//
// Prints one JSON line per scenario on stdout ({"scenario":..,"ok":..,"error":..,...}), progress
// on stderr, and exits 1 if any scenario failed (2 for bad usage).

package dev.coffer.interop;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.fs.statistics.IOStatisticsSupport;
import org.apache.hadoop.fs.statistics.StoreStatisticNames;
import software.amazon.awssdk.awscore.exception.AwsServiceException;

public final class S3aInterop {
  static final String XA_SSE = "header.x-amz-server-side-encryption";
  static final String XA_KMS_KEY_ID = "header.x-amz-server-side-encryption-aws-kms-key-id";

  /** A failed expectation: the scenario stops and reports this message. */
  static final class CheckFailed extends RuntimeException {
    CheckFailed(String message) {
      super(message);
    }
  }

  private static final List<Thread> CLOSERS = new ArrayList<>();

  private final Properties p;
  private final String name;
  private final Configuration conf;
  private final Path dir;
  private int checks;
  /** Distinct values seen, reported back so the test can check them against the server's keys. */
  private final Set<String> seenSse = new LinkedHashSet<>();
  private final Set<String> seenKeyIds = new LinkedHashSet<>();
  /** Files left in place for the test to inspect with another client: path -> sha256. */
  private final Map<String, String> kept = new TreeMap<>();
  /** Every file S3A created, path -> sha256 of each write in order (a versioned bucket keeps them all). */
  private final Map<String, List<String>> written = new TreeMap<>();
  private final List<String> notes = new ArrayList<>();

  private S3aInterop(Properties p) {
    this.p = p;
    this.name = required("name");
    this.conf = new Configuration();
    // Several files, as Hadoop layers core-site.xml over core-default.xml: later ones win
    // (unless an earlier property is final).
    for (String file : required("conf").split(",")) {
      this.conf.addResource(new Path(new java.io.File(file.trim()).toURI()));
    }
    this.dir = new Path(required("dir"));
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: S3aInterop SCENARIO.properties...");
      System.exit(2);
    }
    boolean allOk = true;
    for (String file : args) {
      Properties p = new Properties();
      try (InputStream in = new FileInputStream(file)) {
        p.load(in);
      }
      S3aInterop s = new S3aInterop(p);
      long start = System.nanoTime();
      String error = null;
      try {
        s.run();
      } catch (CheckFailed e) {
        error = e.getMessage();
      } catch (Throwable e) {
        error = describe(e);
        e.printStackTrace();
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      allOk &= error == null;
      System.out.println(s.result(error, ms));
      System.out.flush();
      System.err.printf("[s3a] %s: %s in %d ms%n", s.name, error == null ? "ok" : "FAILED: " + error, ms);
    }
    for (Thread t : CLOSERS) t.join(30_000);
    System.exit(allOk ? 0 : 1);
  }

  private void run() throws IOException {
    step("start (" + p.getProperty("mode", "roundtrip") + " in " + dir + ")");
    FileSystem fs = FileSystem.newInstance(dir.toUri(), conf);
    try {
      String mode = p.getProperty("mode", "roundtrip");
      switch (mode) {
        case "roundtrip" -> roundtrip(fs);
        case "denied" -> denied(fs);
        default -> throw new CheckFailed("unknown mode " + mode);
      }
    } finally {
      // Closing an S3A FileSystem takes about 2 s (the async HTTP client's event loops shut
      // down gracefully); the next scenario need not wait for it.
      Thread closer = new Thread(() -> {
        try {
          fs.close();
        } catch (IOException e) {
          System.err.println("[s3a] " + name + ": close failed: " + describe(e));
        }
      }, "close-" + name);
      closer.start();
      CLOSERS.add(closer);
    }
  }

  // ---- roundtrip: write, read, rename (copy + delete), list, delete -----------------------

  private void roundtrip(FileSystem fs) throws IOException {
    long[] sizes = Arrays.stream(p.getProperty("sizes", "0,1000,100000,12582912").split(","))
        .map(String::trim).mapToLong(Long::parseLong).toArray();
    Path src = new Path(dir, "src");
    Path dst = new Path(dir, "dst");
    Path keep = new Path(dir, "kept");
    check(fs.mkdirs(src), "mkdirs " + src);

    Map<String, byte[]> files = new LinkedHashMap<>();
    for (long size : sizes) {
      String file = "f-" + size + ".bin";
      Path path = new Path(src, file);
      boolean overwrite = Boolean.parseBoolean(p.getProperty("overwrite", "false"));
      for (int round = 1; round <= (overwrite ? 2 : 1); round++) {
        byte[] data = pattern((int) size, (name + "/" + file + (round == 1 ? "" : "#" + round)).hashCode());
        files.put(file, data);
        step((round == 1 ? "write " : "overwrite ") + path + " (" + size + " bytes)");
        long uploadsBefore = counter(fs, StoreStatisticNames.OBJECT_MULTIPART_UPLOAD_INITIATED);
        try (FSDataOutputStream out = fs.create(path, true)) {
          out.write(data);
        }
        written.computeIfAbsent(path.toUri().toString(), k -> new ArrayList<>()).add(sha256(data));
        long uploads = counter(fs, StoreStatisticNames.OBJECT_MULTIPART_UPLOAD_INITIATED) - uploadsBefore;
        // With fs.s3a.multipart.size/threshold at 5M, files over 5 MiB go up as multipart uploads.
        if (size > 5 * 1024 * 1024) check(uploads >= 1, "write " + path + ": no multipart upload initiated (is fs.s3a.multipart.threshold 5M?)");
        verifyFile(fs, path, data);
      }
    }

    // The listing must show exactly the files written, with their lengths.
    Map<String, Long> listed = new TreeMap<>();
    for (FileStatus st : fs.listStatus(src)) {
      check(st.isFile(), "listStatus " + src + ": " + st.getPath() + " is not a file");
      listed.put(st.getPath().getName(), st.getLen());
    }
    Map<String, Long> want = new TreeMap<>();
    files.forEach((f, d) -> want.put(f, (long) d.length));
    check(listed.equals(want), "listStatus " + src + " = " + listed + ", expected " + want);

    // Directory rename: S3A copies every object (CopyObject / UploadPartCopy) and deletes the sources.
    step("rename " + src + " -> " + dst);
    check(fs.rename(src, dst), "rename " + src + " -> " + dst + " returned false");
    check(!fs.exists(src), "after rename, " + src + " still exists");
    for (Map.Entry<String, byte[]> e : files.entrySet()) {
      verifyFile(fs, new Path(dst, e.getKey()), e.getValue());
    }

    // Recursive listing over the whole scenario directory.
    int count = 0;
    RemoteIterator<LocatedFileStatus> it = fs.listFiles(dir, true);
    while (it.hasNext()) {
      LocatedFileStatus st = it.next();
      byte[] d = files.get(st.getPath().getName());
      check(d != null && st.getLen() == d.length, "listFiles " + dir + ": unexpected " + st.getPath() + " (" + st.getLen() + " bytes)");
      count++;
    }
    check(count == files.size(), "listFiles " + dir + " found " + count + " files, expected " + files.size());

    // File renames into kept/: the test inspects these with another client afterwards.
    check(fs.mkdirs(keep), "mkdirs " + keep);
    for (Map.Entry<String, byte[]> e : files.entrySet()) {
      if (e.getValue().length == 0) continue;
      Path from = new Path(dst, e.getKey());
      Path to = new Path(keep, e.getKey());
      step("rename " + from + " -> " + to);
      check(fs.rename(from, to), "rename " + from + " -> " + to + " returned false");
      verifyFile(fs, to, e.getValue());
      kept.put(to.toUri().toString(), sha256(e.getValue()));
    }

    // Deletes: one file, then the directory with what is left.
    Path zero = new Path(dst, "f-0.bin");
    if (files.containsKey("f-0.bin")) {
      step("delete " + zero);
      check(fs.delete(zero, false), "delete " + zero + " returned false");
      check(!fs.exists(zero), "after delete, " + zero + " still exists");
    }
    step("delete -r " + dst);
    fs.delete(dst, true);
    check(!fs.exists(dst), "after delete -r, " + dst + " still exists");
  }

  // ---- denied: listing and HEAD work, reads and renames fail for lack of kms:Decrypt -------

  private void denied(FileSystem fs) throws IOException {
    List<String> existing = Arrays.asList(required("denied.existing").split(","));
    Map<String, Long> listed = new TreeMap<>();
    step("listStatus " + dir);
    for (FileStatus st : fs.listStatus(dir)) listed.put(st.getPath().getName(), st.getLen());
    for (String f : existing) {
      check(listed.containsKey(f.trim()), "listStatus " + dir + " = " + listed.keySet() + ", missing " + f);
    }
    for (String f : existing) {
      Path path = new Path(dir, f.trim());
      FileStatus st = fs.getFileStatus(path);
      check(st.isFile() && st.getLen() == listed.get(f.trim()), "getFileStatus " + path + " disagrees with the listing");
      checkXAttrs(fs, path);
      expectDenied("read " + path, () -> {
        try (FSDataInputStream in = fs.open(path)) {
          in.read(new byte[8192]);
        }
      });
    }
    // PutObject needs only kms:GenerateDataKey, so a small write succeeds; reading it back is denied.
    Path mine = new Path(dir, "written-by-denied-user.bin");
    byte[] small = pattern(1000, 7);
    step("write " + mine);
    try (FSDataOutputStream out = fs.create(mine, true)) {
      out.write(small);
    }
    FileStatus st = fs.getFileStatus(mine);
    check(st.getLen() == small.length, "getFileStatus " + mine + " length " + st.getLen());
    checkXAttrs(fs, mine);
    expectDenied("read " + mine, () -> {
      try (FSDataInputStream in = fs.open(mine)) {
        in.read(new byte[1000]);
      }
    });
    // A rename is a copy, and copying an SSE-KMS object decrypts it: denied too (coffer hadoop check says so).
    Path renamed = new Path(dir, "renamed-by-denied-user.bin");
    expectDenied("rename " + mine, () -> fs.rename(mine, renamed));
    check(fs.exists(mine) && !fs.exists(renamed), "after the denied rename " + mine + " must still be there, alone");
    check(fs.delete(mine, false), "delete " + mine + " returned false");
  }

  interface IoAction {
    void run() throws IOException;
  }

  /**
   * Runs an action that must be refused with HTTP 403 AccessDenied. With denied.expect=translated
   * (the classic input stream) S3A must have turned it into java.nio.file.AccessDeniedException;
   * with denied.expect=http-403 any exception whose cause chain holds that or the SDK's 403
   * AccessDenied will do (S3A 3.5's default analytics stream wraps it in a plain IOException).
   */
  private void expectDenied(String what, IoAction action) throws IOException {
    step(what + " (expect access denied)");
    boolean translatedOnly = p.getProperty("denied.expect", "http-403").equals("translated");
    try {
      action.run();
    } catch (InterruptedIOException e) {
      throw e;
    } catch (IOException e) {
      String denial = denial(e, translatedOnly);
      if (denial == null) {
        throw new CheckFailed(what + ": expected " + (translatedOnly ? "java.nio.file.AccessDeniedException" : "an HTTP 403 AccessDenied") + ", got " + describe(e));
      }
      checks++;
      notes.add(what + " denied: " + denial);
      return;
    }
    throw new CheckFailed(what + ": succeeded, expected access denied (no kms:Decrypt on the key)");
  }

  /** "<class>: <status> <code>: <message>" of the access denial in e, or null if e is none. */
  private static String denial(IOException e, boolean translatedOnly) {
    if (e instanceof AccessDeniedException) {
      AwsServiceException sdk = find(e, AwsServiceException.class);
      return e.getClass().getName() + ": " + (sdk == null ? "" : sdkError(sdk) + ": ") + firstLine(sdk == null ? e.getMessage() : sdk.awsErrorDetails().errorMessage());
    }
    if (translatedOnly) return null;
    AccessDeniedException nio = find(e, AccessDeniedException.class);
    if (nio != null) return denial(nio, true);
    AwsServiceException sdk = find(e, AwsServiceException.class);
    if (sdk != null && sdk.statusCode() == 403 && "AccessDenied".equals(sdk.awsErrorDetails().errorCode())) {
      return e.getClass().getName() + " <- " + sdk.getClass().getName() + ": " + sdkError(sdk) + ": " + firstLine(sdk.awsErrorDetails().errorMessage());
    }
    return null;
  }

  private static String sdkError(AwsServiceException sdk) {
    return sdk.statusCode() + " " + sdk.awsErrorDetails().errorCode();
  }

  private static <T extends Throwable> T find(Throwable e, Class<T> type) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (type.isInstance(t)) return type.cast(t);
    }
    return null;
  }

  // ---- checks -----------------------------------------------------------------------------

  private void verifyFile(FileSystem fs, Path path, byte[] want) throws IOException {
    FileStatus st = fs.getFileStatus(path);
    check(st.isFile(), path + " is not a file");
    check(st.getLen() == want.length, "getFileStatus " + path + ": length " + st.getLen() + ", expected " + want.length);
    try (FSDataInputStream in = fs.open(path)) {
      byte[] got = in.readAllBytes();
      check(got.length == want.length, "read " + path + ": " + got.length + " bytes, expected " + want.length);
      check(Arrays.equals(got, want), "read " + path + ": bytes differ from those written (first at " + Arrays.mismatch(got, want) + ")");
      if (want.length >= 16) {
        // A ranged read from the middle (a ranged GET; for the multipart file, inside a part).
        int off = want.length / 2 - 5;
        byte[] mid = new byte[11];
        in.readFully(off, mid);
        check(Arrays.equals(mid, Arrays.copyOfRange(want, off, off + mid.length)), "ranged read " + path + " at " + off + ": bytes differ");
      }
    }
    checkXAttrs(fs, path);
  }

  private void checkXAttrs(FileSystem fs, Path path) throws IOException {
    String sse = xattr(fs, path, XA_SSE);
    String keyId = xattr(fs, path, XA_KMS_KEY_ID);
    seenSse.add(String.valueOf(sse));
    seenKeyIds.add(String.valueOf(keyId));
    expect(path, XA_SSE, sse, p.getProperty("expect.sse", "any"));
    expect(path, XA_KMS_KEY_ID, keyId, p.getProperty("expect.kmsKeyId", "any"));
  }

  private static long counter(FileSystem fs, String name) {
    Long v = IOStatisticsSupport.retrieveIOStatistics(fs).counters().get(name);
    return v == null ? 0 : v;
  }

  private static String xattr(FileSystem fs, Path path, String name) throws IOException {
    byte[] v = fs.getXAttr(path, name);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  private void expect(Path path, String attr, String got, String want) {
    String where = "getXAttr(" + path + ", " + attr + ") = " + (got == null ? "absent" : "\"" + got + "\"");
    if (want.equals("any")) return;
    if (want.equals("absent")) check(got == null, where + ", expected absent");
    else if (want.startsWith("prefix:")) check(got != null && got.startsWith(want.substring(7)), where + ", expected a value starting " + want.substring(7));
    else check(want.equals(got), where + ", expected \"" + want + "\"");
  }

  private void check(boolean ok, String message) {
    checks++;
    if (!ok) throw new CheckFailed(message);
  }

  private String required(String key) {
    String v = p.getProperty(key);
    if (v == null || v.isBlank()) throw new IllegalArgumentException("scenario is missing " + key);
    return v.trim();
  }

  private long lastStep = System.nanoTime();

  /** Progress on stderr, with the time since the previous step (where a slow run spends it). */
  private void step(String what) {
    long now = System.nanoTime();
    System.err.println("[s3a] " + name + ": " + what + " (+" + (now - lastStep) / 1_000_000 + " ms)");
    lastStep = now;
  }

  // ---- output -----------------------------------------------------------------------------

  private String result(String error, long ms) {
    StringBuilder b = new StringBuilder("{");
    b.append("\"scenario\":").append(json(name));
    b.append(",\"ok\":").append(error == null);
    b.append(",\"ms\":").append(ms);
    b.append(",\"checks\":").append(checks);
    if (error != null) b.append(",\"error\":").append(json(error));
    b.append(",\"sse\":").append(jsonList(seenSse));
    b.append(",\"kmsKeyIds\":").append(jsonList(seenKeyIds));
    b.append(",\"kept\":{");
    boolean first = true;
    for (Map.Entry<String, String> e : kept.entrySet()) {
      if (!first) b.append(',');
      first = false;
      b.append(json(e.getKey())).append(':').append(json(e.getValue()));
    }
    b.append("},\"written\":{");
    first = true;
    for (Map.Entry<String, List<String>> e : written.entrySet()) {
      if (!first) b.append(',');
      first = false;
      b.append(json(e.getKey())).append(':').append(jsonList(e.getValue()));
    }
    b.append("},\"notes\":").append(jsonList(notes));
    return b.append('}').toString();
  }

  private static String jsonList(Iterable<String> values) {
    StringBuilder b = new StringBuilder("[");
    for (String v : values) {
      if (b.length() > 1) b.append(',');
      b.append(v.equals("null") ? "null" : json(v));
    }
    return b.append(']').toString();
  }

  static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }

  /** The exception's class and message, then each cause's, on one line. */
  static String describe(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (b.length() > 0) b.append(" <- ");
      b.append(t.getClass().getName()).append(": ").append(firstLine(t.getMessage()));
      if (b.length() > 1500) break;
    }
    return b.toString();
  }

  private static String firstLine(String s) {
    if (s == null) return "";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  static byte[] pattern(int size, long seed) {
    byte[] b = new byte[size];
    new SplittableRandom(seed).nextBytes(b);
    return b;
  }

  static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
