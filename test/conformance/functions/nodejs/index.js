// The conformance protocol (README.md) in SCF's three Node.js handler forms.
const held = [];

async function act(event, context) {
  switch (event.do) {
    case "echo":
      return { event, context, trigger_src: process.env.TRIGGER_SRC || "" };
    case "import":
      require(event.module);
      return event.module;
    case "cos-url": {
      // A signed GET URL from COS's SDK, which SCF's Node.js runtimes have built in, given
      // the role's keys as SCF's samples do; signing needs no network. The secret key is
      // compared, not returned.
      const COS = require("cos-nodejs-sdk-v5");
      const env = process.env;
      const cos = new COS({
        SecretId: env.TENCENTCLOUD_SECRETID,
        SecretKey: env.TENCENTCLOUD_SECRETKEY,
        SecurityToken: env.TENCENTCLOUD_SESSIONTOKEN,
      });
      return {
        url: cos.getObjectUrl({ Bucket: event.bucket, Region: event.region, Key: event.key, Sign: true }),
        secretKeyMatches: env.TENCENTCLOUD_SECRETKEY === event.secretKey,
        sessionToken: env.TENCENTCLOUD_SESSIONTOKEN ?? null,
      };
    }
    case "return":
      return event.value;
    case "log":
      console.log(event.line);
      return "logged";
    case "fail":
      throw new Error("conformance failure");
    case "sleep":
      await new Promise((r) => setTimeout(r, event.ms));
      return "slept";
    case "alloc":
      for (let i = 0; i < event.mb / 16; i++) held.push(Buffer.alloc(16 * 1024 * 1024, 1));
      return held.length * 16;
    case "exit":
      process.exit(3);
  }
  return "unknown action";
}

// async (event, context) => value
exports.main_handler = async (event, context) => act(event, context);

// (event, context, callback) with callback(err, result)
exports.callback_handler = (event, context, callback) => {
  act(event, context).then(
    (r) => callback(null, r),
    (e) => callback(e),
  );
};

// context.done(err, result)
exports.done_handler = (event, context) => {
  act(event, context).then(
    (r) => context.done(null, r),
    (e) => context.done(e),
  );
};

// async (event, context, callback) that returns its answer and never calls the callback,
// as SCF's own samples (Nodejs8.9-Apigateway, Nodejs12.16-CustomHtml) are written
// biome-ignore lint/correctness/noUnusedFunctionParameters: the third parameter is the point: a handler of three
exports.async_callback_handler = async (event, context, callback) => act(event, context);
