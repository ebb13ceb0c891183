// The AWS SDK for Go v2 against a Coffer server that test/interop/go-sdk.test.ts starts.
// Endpoint, bucket and KMS key come from the environment (COFFER_ENDPOINT, COFFER_BUCKET,
// COFFER_KMS_KEY_ARN; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Each
// step runs on its own and is reported; the program prints {"steps": {...}} as one JSON
// document on stdout and exits 0 when it ran to the end (whatever the steps said).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

type step struct {
	OK    bool              `json:"ok"`
	Error string            `json:"error,omitempty"`
	Info  map[string]string `json:"info,omitempty"`
}

var (
	ctx    = context.Background()
	client *s3.Client
	bucket string
	steps  = map[string]*step{}
	order  []string
)

// run records one step; a panic or an error fails only that step.
func run(name string, f func(info map[string]string) error) {
	info := map[string]string{}
	s := &step{Info: info}
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.Error = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		if err := f(info); err != nil {
			s.Error = err.Error()
		} else {
			s.OK = true
		}
	}()
	steps[name] = s
	order = append(order, name)
	status := "ok"
	if !s.OK {
		status = "FAILED: " + s.Error
	}
	fmt.Fprintf(os.Stderr, "[go-sdk] %s: %s\n", name, status)
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func get(key string, opt func(*s3.GetObjectInput)) (*s3.GetObjectOutput, []byte, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)}
	if opt != nil {
		opt(in)
	}
	out, err := client.GetObject(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return out, b, err
}

func same(what string, got, want []byte) error {
	if len(got) != len(want) || sum(got) != sum(want) {
		return fmt.Errorf("%s: %d bytes (sha256 %s) back, want %d bytes (sha256 %s)", what, len(got), sum(got), len(want), sum(want))
	}
	return nil
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func main() {
	endpoint := os.Getenv("COFFER_ENDPOINT")
	bucket = os.Getenv("COFFER_BUCKET")
	keyArn := os.Getenv("COFFER_KMS_KEY_ARN")
	if endpoint == "" || bucket == "" || keyArn == "" {
		fmt.Fprintln(os.Stderr, "COFFER_ENDPOINT, COFFER_BUCKET and COFFER_KMS_KEY_ARN must be set")
		os.Exit(2)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})

	run("create-bucket", func(info map[string]string) error {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
		return err
	})

	// ≥ 12 MiB in 5 MiB parts: three parts, the last one short.
	big := randomBytes(12*1024*1024+777, 1)
	run("multipart-upload", func(info map[string]string) error {
		up := manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = 5 * 1024 * 1024
			u.Concurrency = 3
		})
		out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("mpu/big.bin"), Body: bytes.NewReader(big)})
		if err != nil {
			return err
		}
		if out.UploadID == "" {
			return errors.New("the uploader did not use a multipart upload")
		}
		info["etag"] = aws.ToString(out.ETag)
		info["parts"] = fmt.Sprint(len(out.CompletedParts))
		if len(out.CompletedParts) != 3 {
			return fmt.Errorf("%d parts uploaded, want 3", len(out.CompletedParts))
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("mpu/big.bin")})
		if err != nil {
			return err
		}
		if aws.ToInt64(head.ContentLength) != int64(len(big)) {
			return fmt.Errorf("HeadObject ContentLength %d, want %d", aws.ToInt64(head.ContentLength), len(big))
		}
		if !regexp.MustCompile(`^"[0-9a-f]{32}-3"$`).MatchString(aws.ToString(head.ETag)) {
			return fmt.Errorf("ETag %s is not a three-part multipart ETag", aws.ToString(head.ETag))
		}
		return nil
	})

	run("download-compare", func(info map[string]string) error {
		_, b, err := get("mpu/big.bin", nil)
		if err != nil {
			return err
		}
		if err := same("GetObject", b, big); err != nil {
			return err
		}
		// The manager's ranged, concurrent download too.
		buf := manager.NewWriteAtBuffer(nil)
		dl := manager.NewDownloader(client, func(d *manager.Downloader) { d.PartSize = 5 * 1024 * 1024 })
		n, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("mpu/big.bin")})
		if err != nil {
			return err
		}
		info["downloaded"] = fmt.Sprint(n)
		return same("manager.Downloader", buf.Bytes(), big)
	})

	run("get-object-attributes", func(info map[string]string) error {
		out, err := client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
			Bucket: &bucket, Key: aws.String("mpu/big.bin"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize, types.ObjectAttributesObjectParts, types.ObjectAttributesStorageClass},
		})
		if err != nil {
			return err
		}
		if aws.ToInt64(out.ObjectSize) != int64(len(big)) {
			return fmt.Errorf("ObjectSize %d, want %d", aws.ToInt64(out.ObjectSize), len(big))
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}-3$`).MatchString(aws.ToString(out.ETag)) {
			return fmt.Errorf("ETag %q: want the multipart ETag without quotes", aws.ToString(out.ETag))
		}
		if out.ObjectParts == nil {
			return errors.New("no ObjectParts for a multipart object")
		}
		info["parts"] = fmt.Sprint(aws.ToInt32(out.ObjectParts.TotalPartsCount))
		if aws.ToInt32(out.ObjectParts.TotalPartsCount) != 3 {
			return fmt.Errorf("ObjectParts.TotalPartsCount %d, want 3", aws.ToInt32(out.ObjectParts.TotalPartsCount))
		}
		return nil
	})

	run("presigned-get-put", func(info map[string]string) error {
		pre := s3.NewPresignClient(client)
		body := []byte("uploaded through a URL presigned by the Go SDK\n")
		put, err := pre.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("presigned/obj.txt")}, s3.WithPresignExpires(5*time.Minute))
		if err != nil {
			return err
		}
		req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader(body))
		for k, vs := range put.SignedHeader {
			if strings.EqualFold(k, "host") {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("presigned PUT: HTTP %d: %s", res.StatusCode, msg)
		}
		g, err := pre.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("presigned/obj.txt")}, s3.WithPresignExpires(5*time.Minute))
		if err != nil {
			return err
		}
		res, err = http.Get(g.URL)
		if err != nil {
			return err
		}
		back, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("presigned GET: HTTP %d: %s", res.StatusCode, back)
		}
		if err := same("presigned GET", back, body); err != nil {
			return err
		}
		// A tampered signature is refused.
		bad := regexp.MustCompile(`X-Amz-Signature=[0-9a-f]`).ReplaceAllString(g.URL, "X-Amz-Signature=0")
		if bad == g.URL {
			bad = strings.Replace(g.URL, "X-Amz-Signature=", "X-Amz-Signature=f", 1)
		}
		res, err = http.Get(bad)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			return fmt.Errorf("a presigned GET with a tampered signature: HTTP %d, want 403", res.StatusCode)
		}
		return nil
	})

	run("conditional-delete", func(info map[string]string) error {
		key := aws.String("conditional/obj.txt")
		put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader("delete me only if you know my ETag")})
		if err != nil {
			return err
		}
		_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: key, IfMatch: aws.String(`"00000000000000000000000000000000"`)})
		if err == nil {
			return errors.New("DeleteObject with a wrong If-Match succeeded; want 412 PreconditionFailed")
		}
		if apiCode(err) != "PreconditionFailed" {
			return fmt.Errorf("DeleteObject with a wrong If-Match: %v; want PreconditionFailed", err)
		}
		if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: key}); err != nil {
			return fmt.Errorf("the object is gone after a refused conditional delete: %v", err)
		}
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: key, IfMatch: put.ETag}); err != nil {
			return fmt.Errorf("DeleteObject with the right If-Match: %v", err)
		}
		_, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: key})
		if err == nil {
			return errors.New("the object still exists after DeleteObject with the right If-Match")
		}
		return nil
	})

	run("sse-kms", func(info map[string]string) error {
		key := aws.String("kms/secret.bin")
		body := randomBytes(300_000, 2)
		put, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: key, Body: bytes.NewReader(body),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(keyArn),
		})
		if err != nil {
			return err
		}
		if put.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(put.SSEKMSKeyId) != keyArn {
			return fmt.Errorf("PutObject answered SSE %q key %q", put.ServerSideEncryption, aws.ToString(put.SSEKMSKeyId))
		}
		out, b, err := get(*key, nil)
		if err != nil {
			return err
		}
		if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != keyArn {
			return fmt.Errorf("GetObject answered SSE %q key %q", out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId))
		}
		if err := same("SSE-KMS GetObject", b, body); err != nil {
			return err
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: key})
		if err != nil {
			return err
		}
		if head.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(head.SSEKMSKeyId) != keyArn {
			return fmt.Errorf("HeadObject answered SSE %q key %q", head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId))
		}
		info["sse"] = string(head.ServerSideEncryption)
		return nil
	})

	run("list-objects-v2-paging", func(info map[string]string) error {
		var want []string
		for i := 0; i < 7; i++ {
			k := fmt.Sprintf("paged/key-%02d", i)
			want = append(want, k)
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				return err
			}
		}
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("paged/"), MaxKeys: aws.Int32(3)})
		var got []string
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			pages++
			if len(page.Contents) > 3 {
				return fmt.Errorf("page %d has %d keys, MaxKeys 3", pages, len(page.Contents))
			}
			for _, o := range page.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			if pages > 10 {
				return errors.New("paging does not end")
			}
		}
		info["pages"] = fmt.Sprint(pages)
		if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("%d pages with keys %v, want 3 pages with %v", pages, got, want)
		}
		return nil
	})

	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(map[string]any{"steps": steps, "order": order}); err != nil {
		os.Exit(2)
	}
}
