package dev.coffer.interop;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;
import software.amazon.awssdk.services.s3.presigner.model.PresignedGetObjectRequest;
import software.amazon.awssdk.services.s3.presigner.model.PresignedPutObjectRequest;
import software.amazon.awssdk.transfer.s3.S3TransferManager;
import software.amazon.awssdk.transfer.s3.model.CompletedFileDownload;
import software.amazon.awssdk.transfer.s3.model.CompletedFileUpload;

/**
 * The AWS SDK for Java v2 against a Coffer server that test/interop/java-sdk.test.ts starts.
 * Endpoint, bucket and KMS key from the environment (COFFER_ENDPOINT, COFFER_BUCKET,
 * COFFER_KMS_KEY_ARN, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Each step runs on its own;
 * the summary is one JSON document on stdout ({"steps": {name: {ok, error}}}).
 */
public final class JavaSdkInterop {
    interface Step {
        void run(Map<String, String> info) throws Exception;
    }

    private static final Map<String, String> results = new LinkedHashMap<>();
    private static final long MIB = 1024 * 1024;

    private static void step(String name, Step body) {
        Map<String, String> info = new LinkedHashMap<>();
        String error = null;
        try {
            body.run(info);
        } catch (Throwable t) {
            StringWriter sw = new StringWriter();
            t.printStackTrace(new PrintWriter(sw));
            error = sw.toString();
        }
        StringBuilder json = new StringBuilder("{\"ok\":").append(error == null);
        if (error != null) json.append(",\"error\":").append(quote(error));
        for (Map.Entry<String, String> e : info.entrySet()) json.append(',').append(quote(e.getKey())).append(':').append(quote(e.getValue()));
        results.put(name, json.append('}').toString());
        System.err.println("[java-sdk] " + name + ": " + (error == null ? "ok" : "FAILED: " + error.lines().findFirst().orElse("")));
    }

    private static String quote(String s) {
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

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static void check(boolean cond, String message) {
        if (!cond) throw new AssertionError(message);
    }

    private static void same(String what, byte[] got, byte[] want) throws Exception {
        check(got.length == want.length && sha256(got).equals(sha256(want)),
                what + ": " + got.length + " bytes back (sha256 " + sha256(got) + "), want " + want.length + " (sha256 " + sha256(want) + ")");
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    public static void main(String[] args) throws Exception {
        String endpoint = System.getenv("COFFER_ENDPOINT");
        String bucket = System.getenv("COFFER_BUCKET");
        String keyArn = System.getenv("COFFER_KMS_KEY_ARN");
        Path work = Path.of(System.getenv("COFFER_WORK_DIR"));
        var creds = StaticCredentialsProvider.create(AwsBasicCredentials.create(System.getenv("AWS_ACCESS_KEY_ID"), System.getenv("AWS_SECRET_ACCESS_KEY")));
        URI uri = URI.create(endpoint);

        S3Client s3 = S3Client.builder().endpointOverride(uri).region(Region.US_EAST_1).credentialsProvider(creds).forcePathStyle(true).build();
        // The Java-based multipart client (no CRT): uploads over 5 MiB go multipart in 5 MiB parts.
        S3AsyncClient async = S3AsyncClient.builder().endpointOverride(uri).region(Region.US_EAST_1).credentialsProvider(creds).forcePathStyle(true)
                .multipartEnabled(true)
                .multipartConfiguration(c -> c.thresholdInBytes(5 * MIB).minimumPartSizeInBytes(5 * MIB))
                .build();
        S3TransferManager tm = S3TransferManager.builder().s3Client(async).build();
        S3Presigner presigner = S3Presigner.builder().endpointOverride(uri).region(Region.US_EAST_1).credentialsProvider(creds)
                .serviceConfiguration(software.amazon.awssdk.services.s3.S3Configuration.builder().pathStyleAccessEnabled(true).build())
                .build();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

        step("create-bucket", info -> s3.createBucket(b -> b.bucket(bucket)));

        step("put-get", info -> {
            byte[] body = random(100_000, 1);
            s3.putObject(b -> b.bucket(bucket).key("sync/small.bin"), RequestBody.fromBytes(body));
            ResponseBytes<GetObjectResponse> back = s3.getObjectAsBytes(b -> b.bucket(bucket).key("sync/small.bin"));
            same("GetObject", back.asByteArray(), body);
            check(back.response().contentLength() == body.length, "Content-Length " + back.response().contentLength());
        });

        byte[] big = random((int) (12 * MIB + 999), 2);
        Path bigFile = work.resolve("big.bin");
        Files.write(bigFile, big);

        step("transfer-manager-multipart", info -> {
            CompletedFileUpload up = tm.uploadFile(u -> u.source(bigFile).putObjectRequest(p -> p.bucket(bucket).key("tm/big.bin"))).completionFuture().join();
            info.put("etag", up.response().eTag());
            HeadObjectResponse head = s3.headObject(b -> b.bucket(bucket).key("tm/big.bin"));
            check(head.contentLength() == big.length, "HeadObject Content-Length " + head.contentLength());
            check(head.eTag().matches("\"[0-9a-f]{32}-3\""), "ETag " + head.eTag() + " is not a three-part multipart ETag");
            Path back = work.resolve("big.back");
            CompletedFileDownload down = tm.downloadFile(d -> d.destination(back).getObjectRequest(g -> g.bucket(bucket).key("tm/big.bin"))).completionFuture().join();
            check(down.response().contentLength() != null, "download response");
            same("transfer manager download", Files.readAllBytes(back), big);
        });

        step("sse-kms", info -> {
            byte[] body = random(200_000, 3);
            PutObjectResponse put = s3.putObject(b -> b.bucket(bucket).key("kms/small.bin").serverSideEncryption(ServerSideEncryption.AWS_KMS).ssekmsKeyId(keyArn),
                    RequestBody.fromBytes(body));
            check(put.serverSideEncryption() == ServerSideEncryption.AWS_KMS && keyArn.equals(put.ssekmsKeyId()),
                    "PutObject answered " + put.serverSideEncryption() + " " + put.ssekmsKeyId());
            ResponseBytes<GetObjectResponse> back = s3.getObjectAsBytes(b -> b.bucket(bucket).key("kms/small.bin"));
            check(back.response().serverSideEncryption() == ServerSideEncryption.AWS_KMS && keyArn.equals(back.response().ssekmsKeyId()),
                    "GetObject answered " + back.response().serverSideEncryption() + " " + back.response().ssekmsKeyId());
            same("SSE-KMS GetObject", back.asByteArray(), body);
        });

        step("sse-kms-multipart", info -> {
            tm.uploadFile(u -> u.source(bigFile).putObjectRequest(p -> p.bucket(bucket).key("kms/big.bin")
                    .serverSideEncryption(ServerSideEncryption.AWS_KMS).ssekmsKeyId(keyArn))).completionFuture().join();
            HeadObjectResponse head = s3.headObject(b -> b.bucket(bucket).key("kms/big.bin"));
            check(head.serverSideEncryption() == ServerSideEncryption.AWS_KMS && keyArn.equals(head.ssekmsKeyId()),
                    "HeadObject answered " + head.serverSideEncryption() + " " + head.ssekmsKeyId());
            check(head.eTag().endsWith("-3\""), "ETag " + head.eTag() + " is not a three-part multipart ETag");
            same("SSE-KMS multipart GetObject", s3.getObjectAsBytes(b -> b.bucket(bucket).key("kms/big.bin")).asByteArray(), big);
        });

        step("presign", info -> {
            byte[] body = "uploaded through a URL presigned by the Java SDK\n".getBytes();
            PresignedPutObjectRequest put = presigner.presignPutObject(p -> p.signatureDuration(Duration.ofMinutes(5))
                    .putObjectRequest(r -> r.bucket(bucket).key("presigned/obj.txt")));
            HttpRequest.Builder rb = HttpRequest.newBuilder(put.url().toURI()).PUT(HttpRequest.BodyPublishers.ofByteArray(body));
            put.signedHeaders().forEach((k, vs) -> {
                if (!k.equalsIgnoreCase("host")) vs.forEach(v -> rb.header(k, v));
            });
            HttpResponse<String> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofString());
            check(r.statusCode() == 200, "presigned PUT: HTTP " + r.statusCode() + ": " + r.body());
            PresignedGetObjectRequest get = presigner.presignGetObject(p -> p.signatureDuration(Duration.ofMinutes(5))
                    .getObjectRequest(g -> g.bucket(bucket).key("presigned/obj.txt")));
            HttpResponse<byte[]> g = http.send(HttpRequest.newBuilder(get.url().toURI()).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
            check(g.statusCode() == 200, "presigned GET: HTTP " + g.statusCode() + ": " + new String(g.body()));
            same("presigned GET", g.body(), body);
            String tampered = get.url().toString().replaceFirst("X-Amz-Signature=.", "X-Amz-Signature=" + (get.url().toString().contains("X-Amz-Signature=0") ? "1" : "0"));
            HttpResponse<String> t = http.send(HttpRequest.newBuilder(URI.create(tampered)).GET().build(), HttpResponse.BodyHandlers.ofString());
            check(t.statusCode() == 403, "a tampered presigned GET: HTTP " + t.statusCode());
        });

        step("list", info -> {
            List<String> keys = new ArrayList<>();
            s3.listObjectsV2Paginator(b -> b.bucket(bucket).maxKeys(2)).contents().forEach(o -> keys.add(o.key()));
            info.put("keys", String.join(",", keys));
            List<String> want = List.of("kms/big.bin", "kms/small.bin", "presigned/obj.txt", "sync/small.bin", "tm/big.bin");
            check(keys.equals(want), "listed " + keys + ", want " + want);
        });

        tm.close();
        async.close();
        s3.close();
        presigner.close();
        StringBuilder out = new StringBuilder("{\"steps\":{");
        boolean first = true;
        for (Map.Entry<String, String> e : results.entrySet()) {
            if (!first) out.append(',');
            first = false;
            out.append(quote(e.getKey())).append(':').append(e.getValue());
        }
        System.out.println(out.append("}}"));
        System.exit(0);
    }
}
